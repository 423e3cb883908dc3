// `npm run bench`: every part prints its figures as ratios to a baseline measured in the same run.
import { runBridgeBench } from "./bridge.js";
import { runBridgeE2beBench } from "./bridge-e2be.js";
import { runCallsBench } from "./calls.js";
import { runCryptoBench } from "./crypto.js";
import { runCryptoScaleBench } from "./crypto-scale.js";
import { runFeedsBench } from "./feeds.js";
import { runScaleBench } from "./scale.js";
import { runRtcBench } from "./rtc.js";
import { runRtcRelayBench } from "./rtc-relay.js";
import { runPostGroupBench } from "./post-groups.js";
import { runServerBench } from "./server.js";
import { runServerMultiprocBench } from "./server-multiproc.js";
import { runTorBench } from "./tor.js";

const parts = process.argv.slice(2);
const want = (name: string) => parts.length === 0 || parts.includes(name);

async function main(): Promise<void> {
  if (want("crypto")) runCryptoBench();
  if (want("server")) await runServerBench();
  if (want("server") || parts.includes("server-multiproc")) await runServerMultiprocBench();
  if (want("bridge")) await runBridgeBench();
  if (want("e2be")) await runBridgeE2beBench();
  if (want("crypto-scale")) await runCryptoScaleBench();
  if (want("tor")) await runTorBench();
  // `feeds` runs both; `post-groups` the post group part alone.
  if (want("feeds") || parts.includes("post-groups")) await runPostGroupBench();
  if (want("feeds")) await runFeedsBench();
  if (want("calls")) await runCallsBench();
  // Minutes to tens of minutes: only when asked for by name (`npm run bench -- scale --users 10,200`).
  if (parts.includes("scale")) await runScaleBench();
  if (want("rtc")) await runRtcBench();
  if (want("rtc") || parts.includes("rtc-relay")) await runRtcRelayBench();
}

main()
  // libwebrtc's threads (the calls part) keep the process alive after the last peer closed.
  .then(() => process.exit(0))
  .catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
