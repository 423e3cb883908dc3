// Public profiles: show anyone's (verified against their pinned account key), set your own.
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { PeopleClient, Profile } from "../../client/people-client.js";
import { MAX_AVATAR_BYTES, MAX_DISPLAY_NAME, validDisplayName } from "../../client/profile.js";
import { isPeopleError } from "../../errors.js";
import { addressArg, type Context } from "../context.js";
import { CliError, UsageError, about, fileErrorText } from "../errors.js";
import { guessMime } from "../files.js";
import { formatSize, formatTime, iso, oneLine } from "../output.js";

export interface ProfileSetOpts {
  name?: string;
  avatar?: string;
}

function profileJson(p: Profile) {
  return {
    address: p.address,
    display_name: p.displayName ?? null,
    avatar: p.avatar ?? null,
    updated_at: iso(p.updatedAt),
  };
}

function show(ctx: Context, p: Profile): void {
  if (ctx.out.json) {
    ctx.out.data(profileJson(p));
    return;
  }
  ctx.out.line(`Address:  ${p.address}`);
  ctx.out.line(`Name:     ${p.displayName !== undefined ? oneLine(p.displayName) : "(none)"}`);
  ctx.out.line(
    `Avatar:   ${p.avatar ? `${oneLine(p.avatar.mime)}, ${formatSize(p.avatar.size)}` : "(none)"}`,
  );
  ctx.out.line(`Updated:  ${formatTime(p.updatedAt)}`);
}

async function fetchProfile(client: PeopleClient, address: string): Promise<Profile> {
  try {
    return await about(address, () => client.profile.get(address));
  } catch (e) {
    const cause = e instanceof Error ? e.cause : undefined;
    if (isPeopleError(cause) && cause.code === "PEOPLE_NOT_FOUND")
      throw new CliError(address, "has no public profile yet", undefined, { cause });
    throw e;
  }
}

export async function profileShow(ctx: Context, addressInput: string | undefined): Promise<void> {
  const address = addressInput !== undefined ? addressArg(addressInput) : undefined;
  await ctx.withClient(async (client) => {
    show(ctx, await fetchProfile(client, address ?? client.address));
  });
}

export async function profileSet(ctx: Context, opts: ProfileSetOpts): Promise<void> {
  if (opts.name === undefined && opts.avatar === undefined)
    throw new UsageError("profile set", "give --name and/or --avatar");
  const name = opts.name?.trim();
  if (name !== undefined && !validDisplayName(name))
    throw new UsageError(opts.name!, `a name is one line of at most ${MAX_DISPLAY_NAME} characters`);
  let avatar: { bytes: Buffer; mime: string } | undefined;
  if (opts.avatar !== undefined) {
    const path = resolve(opts.avatar);
    const mime = guessMime(path);
    if (!mime.startsWith("image/"))
      throw new UsageError(opts.avatar, "an avatar is an image file (.png, .jpg, .gif, .webp …)");
    try {
      const st = statSync(path);
      if (!st.isFile()) throw new CliError(path, "not a regular file");
      if (st.size > MAX_AVATAR_BYTES)
        throw new CliError(
          path,
          `${formatSize(st.size)} is more than an avatar may be (${formatSize(MAX_AVATAR_BYTES)})`,
        );
      avatar = { bytes: readFileSync(path), mime };
    } catch (e) {
      if (e instanceof CliError) throw e;
      throw new CliError(path, fileErrorText(e as NodeJS.ErrnoException));
    }
  }
  await ctx.withClient(async (client) => {
    const progress = avatar
      ? ctx.out.progress(`uploading the avatar (${formatSize(avatar.bytes.length)})`)
      : undefined;
    let profile: Profile;
    try {
      profile = await about(client.address, () =>
        client.profile.set({
          ...(name !== undefined ? { display_name: name } : {}),
          ...(avatar ? { avatar } : {}),
          ...(progress ? { onProgress: progress.bytes } : {}),
        }),
      );
    } catch (e) {
      progress?.fail();
      throw e;
    }
    progress?.done(`uploaded the avatar (${formatSize(avatar!.bytes.length)})`);
    if (ctx.out.json) ctx.out.data(profileJson(profile));
    else {
      ctx.out.line(`Published the profile of ${client.address}.`);
      show(ctx, profile);
    }
  });
}
