// The `config` commands of `people` (kept out of program.ts, which holds the others).
import type { Command } from "commander";
import type * as ConfigCmd from "./commands/config.js";
import type { Context } from "./context.js";

type Act = <M>(
  load: () => Promise<M>,
  fn: (m: M, ctx: Context, args: unknown[]) => Promise<void>,
) => (...args: unknown[]) => Promise<void>;

export function addConfigCommands(program: Command, act: Act): void {
  const config = () => import("./commands/config.js") as Promise<typeof ConfigCmd>;
  const cmd = program
    .command("config")
    .description(
      "show the --pin, --ca and --socks this data directory remembers (`config unpin`/`untrust`/`forget-tor` forget one)",
    )
    .addHelpText(
      "after",
      "\n--pin, --ca, --socks and --tor-all are remembered per data directory once a command given them\n" +
        "succeeded; a later --pin for the same domain replaces the remembered one, a later --ca is added,\n" +
        "a later --socks replaces the proxy, and --tor-all stays on until `config forget-tor`.",
    )
    .action(act(config, (m, ctx) => m.show(ctx)));
  cmd
    .command("unpin")
    .description("forget the remembered --pin of a domain")
    .argument("<domain>", "the domain, as `people config` lists it")
    .action(act(config, (m, ctx, [domain]) => m.unpin(ctx, domain as string)));
  cmd
    .command("untrust")
    .description("forget a remembered --ca certificate")
    .argument("<fingerprint>", "its fingerprint (or a unique beginning), as `people config` lists it")
    .action(act(config, (m, ctx, [fingerprint]) => m.untrust(ctx, fingerprint as string)));
  cmd
    .command("forget-tor")
    .description("forget the remembered --socks and --tor-all")
    .action(act(config, (m, ctx) => m.forgetTor(ctx)));
}
