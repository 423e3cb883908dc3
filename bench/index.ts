// `npm run bench`: every part prints its figures as ratios to a baseline measured in the same run.
import { runBridgeBench } from "./bridge.js";
import { runBridgeE2beBench } from "./bridge-e2be.js";
import { runCallsBench } from "./calls.js";
import { runCryptoBench } from "./crypto.js";
import { runCryptoScaleBench } from "./crypto-scale.js";
import { runFeedsBench } from "./feeds.js";
import { runServerBench } from "./server.js";
import { runTorBench } from "./tor.js";

const parts = process.argv.slice(2);
const want = (name: string) => parts.length === 0 || parts.includes(name);

async function main(): Promise<void> {
  if (want("crypto")) runCryptoBench();
  if (want("server")) await runServerBench();
  if (want("bridge")) await runBridgeBench();
  if (want("e2be")) await runBridgeE2beBench();
  if (want("crypto-scale")) await runCryptoScaleBench();
  if (want("tor")) await runTorBench();
  if (want("feeds")) await runFeedsBench();
  if (want("calls")) await runCallsBench();
}

main()
  // libwebrtc's threads (the calls part) keep the process alive after the last peer closed.
  .then(() => process.exit(0))
  .catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
