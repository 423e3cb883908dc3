// The metrics the core and the features count, as they see them. The composition
// root passes the Prometheus registry of metrics.ts (its BridgeMetrics class
// satisfies this interface); the core never imports prom-client.

export type Direction = "to_people" | "to_matrix";

/** A labelled counter. */
export interface CounterPort<L extends string> {
  inc(labels: Partial<Record<L, string | number>>, value?: number): void;
}

/** A labelled histogram of durations: the timer's stop records the seconds since start. */
export interface TimerPort<L extends string> {
  startTimer(
    labels?: Partial<Record<L, string | number>>,
  ): (labels?: Partial<Record<L, string | number>>) => number;
}

export interface BridgeMetrics {
  readonly portalMessages: CounterPort<"direction" | "outcome">;
  readonly commands: CounterPort<"command" | "outcome">;
  readonly ghostProfiles: CounterPort<"outcome">;
  readonly calls: CounterPort<"direction" | "outcome">;
  readonly latency: TimerPort<"direction">;
  bridged(direction: Direction, kind: string): void;
  failed(direction: Direction, reason: string): void;
  sentToPeople(messageId: string, originServerTs: number | undefined): void;
}
