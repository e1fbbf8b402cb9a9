// The chat room: Momento Topics in the browser with Momento's Web SDK, tokens from a Token
// Vending Machine (momento-tvm serve). The same code runs against Momento and against
// `momento-tvm emulator`: credentialProps() adds the emulator's gRPC-web endpoint only when
// the vending server says it mints from the emulator (its answers then carry webEndpoint).
import {
  CredentialProvider,
  TopicClient,
  TopicConfigurations,
  TopicPublish,
  TopicSubscribe,
} from "@gomomento/sdk-web";

const CACHE = "chat";
const TOPIC = "room";
// The vending server: ?tvm=URL, else serve's default address.
const TVM = new URLSearchParams(location.search).get("tvm") ?? "http://127.0.0.1:8700";

const $ = (id) => document.getElementById(id);
let source = null; // the TvmTokenSource of the signed-in user
let client = null; // a TopicClient on the current token
let subscription = null;
let lastSequence = 0; // items at or below it were shown already (a resubscription may repeat)
let connections = 0; // subscriptions made: one per token

function setStatus(text, kind = "") {
  $("status").textContent = text;
  $("status").className = kind;
}

function show(item) {
  const sequence = item.sequenceNumber();
  if (sequence <= lastSequence) return;
  lastSequence = sequence;
  const line = document.createElement("li");
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = item.tokenId() ?? "(api key)"; // the publisher's token id, set by the TVM
  line.append(who, document.createTextNode(item.valueString()));
  $("messages").append(line);
}

// A client and a subscription on `token`. Disposable tokens cannot be refreshed, only
// replaced: on every new token (the helper fetches one before expiresAt) subscribe with it,
// then drop the old subscription.
async function connect(token) {
  const credentialProvider = CredentialProvider.fromDisposableToken(credentialPropsOf(token));
  const next = new TopicClient({
    configuration: TopicConfigurations.Browser.latest(),
    credentialProvider,
  });
  const subscribed = await next.subscribe(CACHE, TOPIC, {
    onItem: show,
    onError: (error) => setStatus(`Subscription ended: ${error.message()}`, "error"),
  });
  if (!(subscribed instanceof TopicSubscribe.Subscription)) {
    throw new Error(`cannot subscribe: ${subscribed.message()}`);
  }
  subscription?.unsubscribe();
  subscription = subscribed;
  client = next;
  connections += 1;
}

let credentialPropsOf;

async function signIn(user, password) {
  source?.close();
  subscription?.unsubscribe();
  subscription = null;
  // The helper as the vending server serves it (a vendored copy works the same).
  const helper = await import(/* @vite-ignore */ `${TVM}/client.js`);
  credentialPropsOf = helper.credentialPropsOf;
  source = new helper.TvmTokenSource({
    url: `${TVM}/token`,
    headers: () => ({ Authorization: `Basic ${btoa(`${user}:${password}`)}` }),
  });
  let token;
  try {
    token = await source.token();
  } catch (error) {
    setStatus(`Sign-in refused: ${error.message}`, "error");
    return { ok: false, code: error.code, message: error.message };
  }
  await connect(token);
  source.onRefresh((fresh) => {
    connect(fresh).catch((error) => setStatus(String(error.message ?? error), "error"));
  });
  $("text").disabled = false;
  $("send").disabled = false;
  setStatus(`Signed in as ${user} (${token.profile}).`);
  return { ok: true, profile: token.profile, tokenId: token.tokenId };
}

// Posting is the service's decision: a reader's token may subscribe but not publish, and
// Momento (or the emulator) refuses; the page shows that refusal.
async function post(text) {
  const published = await client.publish(CACHE, TOPIC, text);
  if (published instanceof TopicPublish.Error) {
    setStatus(`Not posted: ${published.message()}`, "refused");
    return { ok: false, code: published.errorCode(), message: published.message() };
  }
  setStatus("Posted.");
  return { ok: true };
}

$("tvm").textContent = TVM;
$("sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn($("user").value, $("password").value).catch((error) =>
    setStatus(String(error.message ?? error), "error"),
  );
});
$("compose").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text").value;
  if (!text) return;
  $("text").value = "";
  post(text).catch((error) => setStatus(String(error.message ?? error), "error"));
});

// For scripts and tests: the same functions the forms call.
window.chat = {
  signIn,
  post,
  messages: () => [...$("messages").children].map((li) => li.textContent),
  status: () => ({ text: $("status").textContent, kind: $("status").className }),
  connections: () => connections,
};
