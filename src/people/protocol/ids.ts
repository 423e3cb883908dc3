// Opaque identifiers, each with one parse function used at the edge.
// DeviceId: chosen by the device at creation, stable for the device's life.
// MessageId: 16 random bytes chosen by the sender; the same in every copy of a message.
// EnvelopeId: 16 random bytes per copy sent to one server; the server dedups on it.
import { randomBytes } from "node:crypto";
import { PeopleError, type ErrorCode } from "../errors.js";

export type DeviceId = string & { readonly __brand: "DeviceId" };
export type MessageId = string & { readonly __brand: "MessageId" };
export type EnvelopeId = string & { readonly __brand: "EnvelopeId" };

const DEVICE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const ID16 = /^[A-Za-z0-9_-]{21}[AQgw]$/; // 16 bytes in canonical base64url

export function parseDeviceId(text: unknown, code: ErrorCode = "PEOPLE_BAD_REQUEST"): DeviceId {
  if (typeof text !== "string" || !DEVICE_ID.test(text)) throw new PeopleError(code, "invalid device id");
  return text as DeviceId;
}

export function parseMessageId(text: unknown, code: ErrorCode = "PEOPLE_BAD_REQUEST"): MessageId {
  if (typeof text !== "string" || !ID16.test(text)) throw new PeopleError(code, "invalid message id");
  return text as MessageId;
}

export function parseEnvelopeId(text: unknown, code: ErrorCode = "PEOPLE_BAD_REQUEST"): EnvelopeId {
  if (typeof text !== "string" || !ID16.test(text)) throw new PeopleError(code, "invalid envelope id");
  return text as EnvelopeId;
}

export function newDeviceId(): DeviceId {
  return randomBytes(12).toString("base64url") as DeviceId;
}

export function newMessageId(): MessageId {
  return randomBytes(16).toString("base64url") as MessageId;
}

export function newEnvelopeId(): EnvelopeId {
  return randomBytes(16).toString("base64url") as EnvelopeId;
}
