// `npm run bench`: every part prints its figures as ratios to a baseline measured in the same run.
import { runCryptoBench } from "./crypto.js";

const parts = process.argv.slice(2);
const want = (name: string) => parts.length === 0 || parts.includes(name);

async function main(): Promise<void> {
  if (want("crypto")) runCryptoBench();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
