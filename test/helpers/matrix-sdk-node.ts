// matrix-js-sdk with its Rust crypto inside this project's tests (Node 22, tsx,
// CommonJS): three workarounds, each for a measured problem, so that clients
// behave as they do in a browser and the test process exits when they stop.
import { createHook } from "node:async_hooks";
import { MatrixError } from "matrix-js-sdk";
import { DecryptionError as StaticDecryptionError } from "matrix-js-sdk/lib/common-crypto/CryptoBackend.js";
import { logger as sdkGlobalLogger } from "matrix-js-sdk/lib/logger.js";

// Under tsx, the static imports of the ESM-only SDK are transpiled to CommonJS,
// while the SDK's own `import("./rust-crypto/index.js")` in initRustCrypto loads
// the Rust crypto natively as ESM: two copies of the SDK's shared modules. Its
// `instanceof` checks across the two then fail: every decryption failure would
// read UNKNOWN_ERROR (event.js checks the CommonJS DecryptionError, the Rust
// crypto throws the ESM one), and the Rust crypto would not recognise the
// client's MatrixError. (A second copy of the SDK's entry point is refused by
// the SDK itself, so clients must be made from the static import.) Each class
// is taught to recognise its twin's instances.
let twins: Promise<void> | undefined;

/** Call (and await) before creating a client with Rust crypto. */
export function readySdkForNode(): Promise<void> {
  twins ??= (async () => {
    const [backend, errors] = await Promise.all([
      import("matrix-js-sdk/lib/common-crypto/CryptoBackend.js"),
      import("matrix-js-sdk/lib/http-api/errors.js"),
    ]);
    twin(StaticDecryptionError, backend.DecryptionError);
    twin(MatrixError, errors.MatrixError);
  })();
  return twins;
}

function twin(
  a: abstract new (...args: never[]) => unknown,
  b: abstract new (...args: never[]) => unknown,
): void {
  if (a === b) return; // one copy after all (no tsx, or tsx changed)
  const plain = (cls: typeof a, x: unknown): boolean => Function.prototype[Symbol.hasInstance].call(cls, x);
  for (const cls of [a, b]) {
    Object.defineProperty(cls, Symbol.hasInstance, { value: (x: unknown) => plain(a, x) || plain(b, x) });
  }
}

// Timers of matrix-js-sdk that would keep mocha (without --exit) alive long after
// the clients stopped; each only cleans up after something long finished, so
// they are unref'd as they are created. (Callbacks are matched loosely: tsx may
// reformat the SDK's source.)
// - The Rust crypto arms a 5-minute timer for every encrypted event it sees from
//   sync (waiting for a verification event to decrypt) and never clears it for
//   events decrypted before it listens or never decrypted; it only drops a listener.
// - Every request's local timeout (the SDK's AbortSignal.timeout ponyfill,
//   http-api/utils.js) is a plain setTimeout never cleared: each /sync leaves one
//   of up to 110 s; it only aborts a finished request.
const LINGERING_SDK_TIMERS = [
  /^\(\)\s*=>\s*event\.off\(MatrixEventEvent\.Decrypted,\s*onDecrypted\)$/,
  /^\(\)\s*=>\s*\{\s*controller\.abort\(\);?\s*\}$/,
];
createHook({
  init(_id, type, _trigger, resource) {
    if (type !== "Timeout") return;
    const timer = resource as NodeJS.Timeout & { _onTimeout?: unknown };
    if (typeof timer._onTimeout !== "function") return;
    const text = timer._onTimeout.toString();
    if (LINGERING_SDK_TIMERS.some((pattern) => pattern.test(text))) timer.unref();
  },
}).enable();

// matrix-js-sdk's prefixed child loggers (MatrixRTCSession...) force themselves to
// DEBUG and copy their parent's methodFactory when created: a factory dropping all
// but errors, installed on the root before any client exists, keeps them quiet.
interface LoglevelRoot {
  methodFactory: (method: string, level: number, name: string | symbol) => (...msg: unknown[]) => void;
  rebuild(): void;
}
const sdkRoot = sdkGlobalLogger as unknown as LoglevelRoot;
const sdkFactory = sdkRoot.methodFactory;
sdkRoot.methodFactory = (method, level, name) =>
  method === "error" || process.env.PEOPLE_TEST_VERBOSE ? sdkFactory(method, level, name) : () => {};
sdkRoot.rebuild();

export const quietSdkLogger = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error(...msg: unknown[]) {
    if (process.env.PEOPLE_TEST_VERBOSE) console.error("[matrix-js-sdk]", ...msg);
  },
  getChild() {
    return quietSdkLogger;
  },
};
