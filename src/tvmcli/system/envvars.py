"""Every environment variable the tool reads or writes, by name: one table, one place."""

API_KEY = "MOMENTO_API_KEY"
LEGACY_API_KEY = "MOMENTO_AUTH_TOKEN"  # the pre-2023 name of MOMENTO_API_KEY
ENDPOINT = "MOMENTO_ENDPOINT"
MOMENTO_CONFIG_DIR = "MOMENTO_CONFIG_DIR"  # the Momento CLI's folder (credentials file)

CONFIG = "MOMENTO_TVM_CONFIG"  # the profiles file
DEBUG = "MOMENTO_TVM_DEBUG"  # tracebacks for internal errors
EMULATOR_PID = "MOMENTO_TVM_EMULATOR_PID"
# The emulator's gRPC-web listener (http://127.0.0.1:PORT); `serve` minting from the emulator
# hands it to browsers as webEndpoint.
EMULATOR_WEB_ENDPOINT = "MOMENTO_TVM_EMULATOR_WEB_ENDPOINT"
API_KEY_SECRET_ARN = "MOMENTO_API_KEY_SECRET_ARN"  # noqa: S105 - AWS Lambda: the key's secret

TVM_URL = "MOMENTO_TVM_URL"  # the vending server `mint --from` asks by default
TVM_BEARER = "MOMENTO_TVM_BEARER"  # a bearer token for that server
# GitHub Actions sets these in a job with `permissions: id-token: write`.
ACTIONS_ID_TOKEN_REQUEST_URL = "ACTIONS_ID_TOKEN_REQUEST_URL"  # noqa: S105 - a name
ACTIONS_ID_TOKEN_REQUEST_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"  # noqa: S105 - a name
# ...and these in every job: which job of which run asks (the --reuse key names the job).
GITHUB_JOB_VARIABLES = ("GITHUB_REPOSITORY", "GITHUB_RUN_ID", "GITHUB_JOB")

TOKEN_EXPIRES_AT = "MOMENTO_TOKEN_EXPIRES_AT"  # noqa: S105 - the name of the expiry variable
DEFAULT_TOKEN_VARIABLE = API_KEY  # where a delivered token goes unless --env-var says otherwise

# Variables that may hold a key able to mint: `exec` removes them from the child's environment.
KEY_VARIABLES = (API_KEY, LEGACY_API_KEY)
# Variables that may prove an identity to a vending server: `exec --from` removes them too.
IDENTITY_VARIABLES = (ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN, TVM_BEARER)
