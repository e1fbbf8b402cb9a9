// The Web SDK as a page script for tests/test_js_sdks.py: esbuild bundles it (IIFE, global
// `momento`) from tests/js/node_modules.
export {
  AuthClient,
  CacheClient,
  CacheGet,
  CacheSet,
  Configurations,
  CredentialProvider,
  DisposableTokenScopes,
  ExpiresIn,
  GenerateDisposableToken,
  TopicClient,
  TopicConfigurations,
  TopicPublish,
  TopicSubscribe,
} from "@gomomento/sdk-web";
