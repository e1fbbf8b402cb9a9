// Momento's Node SDK (@gomomento/sdk) against the emulator's gRPC port, run by
// tests/test_js_sdks.py: a subscriber (SUBSCRIBER_TOKEN) and a publisher (PUBLISHER_TOKEN,
// disposable tokens minted by the test) on one topic; then the subscriber's token tries to
// publish. Prints one JSON line: what the subscriber saw and what publishing answered.
// Usage: node node_pubsub.mjs HOST:PORT CACHE TOPIC
import {
  CredentialProvider,
  DefaultMomentoLoggerFactory,
  DefaultMomentoLoggerLevel,
  TopicClient,
  TopicConfigurations,
  TopicPublish,
  TopicSubscribe,
} from "@gomomento/sdk";

const [endpoint, cache, topic] = process.argv.slice(2);
const quiet = new DefaultMomentoLoggerFactory(DefaultMomentoLoggerLevel.ERROR);

function clientFor(authToken) {
  return new TopicClient({
    configuration: TopicConfigurations.Default.latest(quiet),
    credentialProvider: CredentialProvider.fromDisposableToken({
      authToken,
      endpointOverrides: {
        cacheEndpoint: endpoint,
        controlEndpoint: endpoint,
        tokenEndpoint: endpoint,
        secureConnection: false,
      },
    }),
  });
}

const subscriber = clientFor(process.env.SUBSCRIBER_TOKEN);
const publisher = clientFor(process.env.PUBLISHER_TOKEN);
const items = [];
let resolveTwo;
const two = new Promise((resolve) => (resolveTwo = resolve));
const subscription = await subscriber.subscribe(cache, topic, {
  onItem: (item) => {
    items.push({
      value: item.valueString(),
      tokenId: item.tokenId() ?? null,
      sequenceNumber: item.sequenceNumber(),
    });
    if (items.length === 2) resolveTwo();
  },
  onError: (error) => console.error(`subscription error: ${error.message()}`),
});
if (!(subscription instanceof TopicSubscribe.Subscription)) {
  console.log(JSON.stringify({ subscribeError: subscription.message() }));
  process.exit(1);
}
const published = [];
for (const text of ["hello", "again"]) {
  const answer = await publisher.publish(cache, topic, text);
  published.push(answer instanceof TopicPublish.Success ? "ok" : answer.errorCode());
}
const timeout = new Promise((resolve) => setTimeout(() => resolve("timeout"), 10_000));
const waited = await Promise.race([two.then(() => "received"), timeout]);
const refused = await subscriber.publish(cache, topic, "a reader posting");
subscription.unsubscribe();
console.log(
  JSON.stringify({
    waited,
    items,
    published,
    readerPublish:
      refused instanceof TopicPublish.Error
        ? { code: refused.errorCode(), message: refused.message() }
        : "accepted",
  }),
);
process.exit(0);
