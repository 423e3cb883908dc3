// The ghost's LiveKit token, got as Element Call gets one: an OpenID token of the ghost (the
// homeserver's /openid/request_token) posted to the focus's token service (lk-jwt-service's
// /sfu/get), which checks it with the homeserver and answers with the SFU's URL and a JWT.
import { z } from "zod";
import type { LivekitTransport } from "./rtc-events.js";

const Answer = z.object({
  url: z.url({ protocol: /^wss?$/ }).max(2048),
  jwt: z
    .string()
    .min(1)
    .max(8192)
    .regex(/^[\w-]+\.[\w-]+\.[\w-]+$/),
});
export type LivekitToken = z.infer<typeof Answer>;

export async function livekitTokenFor(o: {
  focus: LivekitTransport;
  /** The LiveKit room: the focus's alias, else the Matrix room id (Element Call's rule). */
  roomId: string;
  deviceId: string;
  openId: unknown;
  fetch?: typeof fetch;
}): Promise<LivekitToken> {
  const res = await (o.fetch ?? fetch)(new URL("sfu/get", withSlash(o.focus.livekit_service_url)), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      room: o.focus.livekit_alias ?? o.roomId,
      openid_token: o.openId,
      device_id: o.deviceId,
    }),
    signal: AbortSignal.timeout(20_000),
  });
  if (!res.ok) throw new Error(`the LiveKit token service answered ${res.status}`);
  const answer = Answer.safeParse(await res.json().catch(() => undefined));
  if (!answer.success) throw new Error("the LiveKit token service gave no usable url and jwt");
  return answer.data;
}

const withSlash = (url: string): string => (url.endsWith("/") ? url : `${url}/`);
