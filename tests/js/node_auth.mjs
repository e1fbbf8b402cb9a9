// Momento's Node SDK minting from the emulator, run by tests/test_js_sdks.py: the code given on
// stdin (the README's block, or the emulator's printed "JS SDK" form) must leave a
// `credentialProvider`; this mints a subscribe-only token with it and prints the answer's type.
import * as momento from "@gomomento/sdk";
import { readFileSync } from "node:fs";

const code = readFileSync(0, "utf-8");
const { AuthClient, CredentialProvider, DisposableTokenScopes, ExpiresIn, GenerateDisposableToken } =
  momento;
// The block's own text, as a user pastes it after importing the SDK.
const credentialProvider = new Function(
  "CredentialProvider",
  "AuthClient",
  "process",
  "Buffer",
  `${code}\nreturn credentialProvider;`,
)(CredentialProvider, AuthClient, process, Buffer);
const client = new AuthClient({ credentialProvider });
const answer = await client.generateDisposableToken(
  DisposableTokenScopes.topicSubscribeOnly("chat", "news"),
  ExpiresIn.minutes(5),
);
console.log(
  JSON.stringify({
    type: answer instanceof GenerateDisposableToken.Success ? "Success" : answer.toString(),
  }),
);
