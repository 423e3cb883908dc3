// The `people` command line: global options and the subcommands, grouped in --help. A command's
// implementation (commands/*.ts, with the client behind it) is loaded only when that command runs,
// so --help and usage errors are quick. Errors go back to main.ts, which prints them.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Command, Option } from "commander";
import type * as Account from "./commands/account.js";
import type * as Chat from "./commands/chat.js";
import type * as Mail from "./commands/mail.js";
import type * as ProfileCmd from "./commands/profile.js";
import type * as Social from "./commands/social.js";
import type * as Trust from "./commands/trust.js";
import type { Context, GlobalOptions } from "./context.js";
import type { Io } from "./output.js";
import { addCallCommands } from "./program-calls.js";
import { addConfigCommands } from "./program-config.js";
import { addMoveCommands } from "./program-moves.js";

const LINK_CODE_HELP = `
Type the code on the new device: people link <address> --code <code>.
With --json, prints {code, expires_at} at once and {device} when the device has joined.`;
const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(__dirname, "..", "..", "..", "package.json"), "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "unknown";
  } catch {
    return "unknown";
  }
}

type Action<M> = (m: M, ctx: Context, args: unknown[]) => Promise<void>;

/**
 * Ids are base64url, so one in 64 begins with "-" and would be taken for an
 * unknown option. Commands that take an id let such words through as
 * arguments; a mistyped option then fails as one argument too many.
 */
const idsMayStartWithDash = true;

export function buildProgram(io: Io, env: NodeJS.ProcessEnv): Command {
  /** A commander action that loads `load`'s module and runs `fn` with the command's positional arguments and options. */
  const act =
    <M>(load: () => Promise<M>, fn: Action<M>) =>
    async (...args: unknown[]): Promise<void> => {
      const cmd = args.at(-1) as Command;
      const { Context } = await import("./context.js");
      const ctx = new Context(io, cmd.optsWithGlobals<GlobalOptions>(), env);
      await fn(await load(), ctx, args.slice(0, -1));
      ctx.rememberNetwork();
    };
  const account = () => import("./commands/account.js") as Promise<typeof Account>;
  const mail = () => import("./commands/mail.js") as Promise<typeof Mail>;
  const trust = () => import("./commands/trust.js") as Promise<typeof Trust>;
  const social = () => import("./commands/social.js") as Promise<typeof Social>;
  const chat = () => import("./commands/chat.js") as Promise<typeof Chat>;
  const profile = () => import("./commands/profile.js") as Promise<typeof ProfileCmd>;

  const program = new Command("people")
    .description(
      "People: e-mail-shaped encrypted messaging. Your address is you@your-domain; your " +
        "server holds only ciphertext, and your keys stay on your devices.",
    )
    .version(version(), "-V, --version", "show the version")
    .helpOption("-h, --help", "show help")
    .addOption(
      new Option("--data <dir>", "this device's data directory (default: $PEOPLE_DATA or ~/.people)"),
    )
    .addOption(
      new Option(
        "--passphrase-file <file>",
        "read the store passphrase from this file (else $PEOPLE_PASSPHRASE, or asked)",
      ),
    )
    .addOption(
      new Option(
        "--key-file <file>",
        "use a file of 32 random bytes as the store key instead of a passphrase",
      ),
    )
    .addOption(
      new Option(
        "--pin <domain=host:port>",
        "reach the server of <domain> at host:port (repeatable; remembered for --data)",
      ).argParser(collect),
    )
    .addOption(
      new Option(
        "--ca <pem-file>",
        "also trust this certificate, e.g. a development server's (repeatable; remembered for --data)",
      ).argParser(collect),
    )
    .option(
      "--socks <host:port>",
      "reach .onion servers through this Tor SOCKS5 proxy (or $PEOPLE_TOR_SOCKS; remembered for --data)",
    )
    .option("--tor-all", "with --socks: all People traffic through Tor, hiding your IP (remembered)")
    .option("--json", "print results as JSON for scripts")
    .option("-v, --verbose", "explain failures in detail (error details and stack traces)")
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError("(add --help for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(`people: ${s.replace(/^error: /, "")}`),
    })
    .addHelpText(
      "after",
      [
        "",
        "Exit codes: 0 done, 1 failed, 2 wrong usage.",
        "",
        "Start with `people init you@example.com`, or `people link you@example.com --code …` to add",
        "this computer to an account you already have.",
      ].join("\n"),
    );

  program.commandsGroup("Account and devices:");
  program
    .command("init")
    .description("create a People account, with this computer as its first device")
    .argument("<address>", "the new address, e.g. jane@example.com")
    .option("--invite <token>", "invitation token, when the server accepts new accounts by invitation")
    .addHelpText(
      "after",
      "\nThe device's keys are kept in --data (default ~/.people), encrypted with your passphrase\n" +
        "(--passphrase-file, --key-file or PEOPLE_PASSPHRASE; asked for when run on a terminal).",
    )
    .action(
      act(account, (m, ctx, [address, opts]) => m.init(ctx, address as string, opts as { invite?: string })),
    );

  program
    .command("link")
    .description("add this computer as a new device of an existing account")
    .argument("<address>", "the account's address")
    .requiredOption("--code <code>", "the one-time code `people link-code` shows on a device of the account")
    .option("--timeout <duration>", "how long to wait for that device to let this one in", "2m")
    .addHelpText("after", "\nOn a device of the account, run `people link-code` first and keep it running.")
    .action(
      act(account, (m, ctx, [address, opts]) =>
        m.link(ctx, address as string, opts as { code: string; timeout: string }),
      ),
    );

  program
    .command("link-code")
    .description("show a one-time code to link a new device, and wait until it has joined")
    .option("--ttl <duration>", "how long the code is valid", "10m")
    .option("--with-history", "hand the new device this device's history (an encrypted archive)")
    .addHelpText("after", LINK_CODE_HELP)
    .action(act(account, (m, ctx, [o]) => m.linkCode(ctx, o as { ttl: string; withHistory?: boolean })));

  const devices = program
    .command("devices")
    .description("list the devices of your account (`devices revoke <id>` to remove one)")
    .action(act(account, (m, ctx) => m.listDevices(ctx)));
  devices
    .command("revoke")
    .description("revoke a device of your account (a lost or old computer); run it on another device")
    .argument("<device>", "the device id, as `people devices` lists it")
    .action(act(account, (m, ctx, [device]) => m.revoke(ctx, device as string)));

  program
    .command("rotate")
    .description("renew this device's keys if they are due (daily), and erase retired keys past their grace")
    .option("--force", "renew them now even if they are not due")
    .action(act(account, (m, ctx, [opts]) => m.rotate(ctx, opts as { force?: boolean })));
  addMoveCommands(program, act);
  const profileCmd = program
    .command("profile")
    .description("show a public profile (yours, or an address's); `profile set` to change yours")
    .argument("[address]", "whose profile (default: yours)")
    .addHelpText(
      "after",
      "\nA profile is signed by the account's key and checked against the key pinned for the address.",
    )
    .action(act(profile, (m, ctx, [address]) => m.profileShow(ctx, address as string | undefined)));
  profileCmd
    .command("set")
    .description("publish your display name and/or avatar (readable by anyone)")
    .option("--name <name>", 'your display name ("" removes it)')
    .option("--avatar <image file>", "an image to show as your avatar (public, unencrypted)")
    .action(act(profile, (m, ctx, [opts]) => m.profileSet(ctx, opts as ProfileCmd.ProfileSetOpts)));

  program.commandsGroup("Messages:");
  program
    .command("send")
    .description("send a message (or, with --file, an attachment) to one or more addresses")
    .usage("[options] <address...> <text | ->\n       people send [options] --file <path> <address...>")
    .argument("<address...>", "the recipients, then the message text (- reads it from stdin)")
    .option("--file <path>", "send this file as an attachment (then every argument is a recipient)")
    .option("--caption <text>", "with --file: a text to go with the attachment")
    .option("--mime <type>", "with --file: its media type (default: guessed from the file name)")
    .option("--timeout <duration>", "how long to wait for the recipients' servers to take it", "10s")
    .addHelpText(
      "after",
      [
        "",
        "Examples:",
        '  people send joe@example.com "See you at 8"',
        "  echo 'from a script' | people send joe@example.com ann@example.org -",
        "  people send joe@example.com --file photo.jpg --caption 'the view'",
        "",
        "A message whose recipient's server does not answer stays queued on this device",
        "(for up to 7 days) and is tried again whenever `people` runs (`people watch` keeps trying).",
      ].join("\n"),
    )
    .action(act(mail, (m, ctx, [args, opts]) => m.send(ctx, args as string[], opts as Mail.SendOpts)));

  program
    .command("inbox")
    .description("fetch new mail and list the messages on this device")
    .option("--since <when>", "only messages received since then: 2h, 7d, 2025-01-31…")
    .option("--from <address>", "only messages from this address")
    .option("--all", "include the messages you sent")
    .option("--limit <n>", "only the last n messages")
    .option("--offline", "do not connect; list what this device already holds")
    .addHelpText(
      "after",
      "\nGroup keys, post notices and call set-up travel as messages too; they are not listed.\n" +
        "Posts are read with `people feed <address>`.",
    )
    .action(act(mail, (m, ctx, [opts]) => m.inbox(ctx, opts as Mail.InboxOpts)));

  program
    .command("watch")
    .description("stay connected and print messages as they arrive, until Ctrl-C")
    .addHelpText("after", '\nWith --json, prints one JSON object per line: {"event": "message", …}.')
    .action(act(mail, (m, ctx, [opts]) => m.watch(ctx, opts as Mail.WatchOpts)));

  program
    .command("download")
    .description("fetch, check and decrypt the attachment of a message or a post")
    .argument("<id>", "the message's id (as inbox shows it; a unique beginning is enough), or a post's")
    .option("-o, --output <file>", "where to write it (- for stdout; default: its name, in this directory)")
    .option("--force", "overwrite the file if it exists")
    .option("--author <address>", "the id is that of a post in this address's feed")
    .option("--index <n>", "with --author: which of the post's attachments (1, 2, …)")
    .allowUnknownOption(idsMayStartWithDash)
    .action(act(mail, (m, ctx, [id, opts]) => m.download(ctx, id as string, opts as Mail.DownloadOpts)));

  program
    .command("chat")
    .description("talk live with another device: each line you type is sent, each line received shown")
    .argument("[address]", "whom to call")
    .option("--answer", "wait for a call and answer it, instead of calling")
    .option("--from <address>", "with --answer: only a call from this address")
    .option("--timeout <duration>", "how long to wait for the other side", "60s")
    .addHelpText(
      "after",
      [
        "",
        "One side runs `people chat --answer`, the other `people chat <address>`. The session is",
        "encrypted end to end with keys only the two devices hold. It ends with Ctrl-D or Ctrl-C, or",
        "when the other side hangs up; when input is piped, its end only stops sending.",
        'With --json, prints one JSON object per line: {"event": "open" | "data" | "close", …}.',
      ].join("\n"),
    )
    .action(
      act(chat, (m, ctx, [address, opts]) =>
        m.chat(ctx, address as string | undefined, opts as Chat.ChatOpts),
      ),
    );

  addCallCommands(program, act);
  program.commandsGroup("Groups and posts:");
  const group = program
    .command("group")
    .description("social groups you own or belong to: create, list, show, add, remove");
  group
    .command("create")
    .description("create a group you own, and send its key to the members")
    .argument("<name>", "its name (only your devices know it)")
    .argument("[member...]", "addresses to add at once")
    .action(
      act(social, (m, ctx, [name, members]) => m.groupCreate(ctx, name as string, members as string[])),
    );
  group
    .command("list")
    .description("list your groups and those you were added to")
    .option("--offline", "do not fetch new mail first")
    .action(act(social, (m, ctx, [opts]) => m.groupList(ctx, opts as { offline?: boolean })));
  group
    .command("show")
    .description("show a group's owner, key epoch and members")
    .argument("<group>", "its id (or a unique beginning of it), or its name")
    .option("--offline", "do not fetch new mail first")
    .allowUnknownOption(idsMayStartWithDash)
    .action(
      act(social, (m, ctx, [ref, opts]) => m.groupShow(ctx, ref as string, opts as { offline?: boolean })),
    );
  group
    .command("add")
    .description("add a member to a group you own (they get a new key, so they cannot read earlier posts)")
    .argument("<group>", "its id, a unique beginning of it, or its name")
    .argument("<address>", "the new member")
    .option("--no-rotate", "keep the current key: they can read this key epoch's earlier posts too")
    .allowUnknownOption(idsMayStartWithDash)
    .action(
      act(social, (m, ctx, [ref, address, opts]) =>
        m.groupAdd(ctx, ref as string, address as string, opts as { rotate?: boolean }),
      ),
    );
  group
    .command("remove")
    .description("remove a member from a group you own (the others get a new key)")
    .argument("<group>", "its id, a unique beginning of it, or its name")
    .argument("<address>", "the member to remove")
    .allowUnknownOption(idsMayStartWithDash)
    .action(act(social, (m, ctx, [ref, address]) => m.groupRemove(ctx, ref as string, address as string)));

  program
    .command("post")
    .description("post to a group (encrypted for its members) or publicly, on your feed")
    .argument("[text]", "the text of the post (- reads it from stdin)")
    .option("--group <group>", "the group: its id, a unique beginning of it, or its name")
    .option("--public", "a public post: signed, readable by anyone")
    .option("--file <path>", "attach a file (repeatable, up to 16)", collect)
    .option("--thumbnail <path>", "a thumbnail image for the --file in the same place", collect)
    .option("--timeout <duration>", "how long to wait for the members' servers to take the notices", "10s")
    .addHelpText(
      "after",
      [
        "",
        "Examples:",
        '  people post --group "Weekend hikers" "Summit at dawn" --file summit.jpg',
        "  people post --public 'The climb' --file climb.webm --thumbnail climb.jpg",
      ].join("\n"),
    )
    .action(
      act(social, (m, ctx, [text, opts]) => m.post(ctx, text as string | undefined, opts as Social.PostOpts)),
    );

  program
    .command("feed")
    .description("read an address's posts: the public ones, and the group posts you hold keys for")
    .argument("<address>", "whose feed")
    .option("--after <seq>", "only posts after this position (feed prints it for next time)")
    .option("--limit <n>", "at most n posts")
    .option("--offline", "do not fetch new mail (group keys) first")
    .action(
      act(social, (m, ctx, [address, opts]) =>
        m.feed(ctx, address as string, opts as { after?: string; limit?: string; offline?: boolean }),
      ),
    );

  program.commandsGroup("Trust:");
  program
    .command("contacts")
    .description("list the addresses you exchanged messages with, and the state of their keys")
    .action(act(trust, (m, ctx) => m.contacts(ctx)));

  program
    .command("fingerprint")
    .description("show the safety number of you and an address (the same on both sides)")
    .argument("<address>", "the other address")
    .option("--pending", "the number of their changed keys, waiting to be accepted (see verify)")
    .addHelpText(
      "after",
      "\nCompare it with the other person in person or on a call you trust; if it matches,\n" +
        "run `people verify <address>`. A different number means someone is in between.",
    )
    .action(
      act(trust, (m, ctx, [address, opts]) =>
        m.fingerprint(ctx, address as string, opts as { pending?: boolean }),
      ),
    );

  program
    .command("verify")
    .description("mark an address as verified, after comparing the safety number with them")
    .argument("<address>", "the address you compared numbers with")
    .option("--number <digits>", "the number they read to you: verified only if it matches")
    .option("--yes", "you compared the numbers and they match (needed when not on a terminal)")
    .option("--accept-change", "accept an unexplained change of their keys, if the new number matches")
    .option("--accept-server-key", "accept a changed identity key of their server (as send reports it)")
    .addHelpText(
      "after",
      [
        "",
        "On a terminal, verify shows the number and asks. With --accept-change, the number is that",
        "of their new keys, and they are accepted only if it matches; if it does not, do not write",
        "to them and ask them what happened.",
      ].join("\n"),
    )
    .action(
      act(trust, (m, ctx, [address, opts]) => m.verify(ctx, address as string, opts as Trust.VerifyOpts)),
    );

  program.commandsGroup("Settings:");
  addConfigCommands(program, act);
  program.commandsGroup("Help:");
  program.helpCommand("help [command]", "show help for a command");
  return program;
}
