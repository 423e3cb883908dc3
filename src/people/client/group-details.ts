// A group's topic and picture (PROTOCOL §11.2 "Group details"): they travel in
// the group_key, like its name. A receiver takes those present and keeps the
// ones absent; "" for the topic and null for the picture remove them.
import { z } from "zod";
import { groupAvatarSchema, groupTopicSchema, type MessageContent } from "../protocol/messages.js";
import type { GroupRecord } from "./local-store.js";

type GroupKeyContent = Extract<MessageContent, { type: "group_key" }>;

/** The details a group_key carries, for its record: present ones replace, absent ones are kept. */
export function detailsOf(c: GroupKeyContent): Partial<Pick<GroupRecord, "topic" | "avatar">> {
  return {
    ...(c.topic !== undefined && { topic: c.topic || null }),
    ...(c.avatar !== undefined && { avatar: c.avatar }),
  };
}

/** What setDetails takes: the group_key's own rules for them. */
export const detailsSchema = z.strictObject({
  topic: groupTopicSchema.optional(),
  avatar: groupAvatarSchema.nullable().optional(),
});
