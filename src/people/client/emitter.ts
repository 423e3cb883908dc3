// A small typed event emitter for the client's feature modules (groups,
// posts, realtime sessions). As with ClientEvents, a throwing listener never
// breaks the component that emitted.
type Listener<T> = (value: T) => void;

export class Emitter<M extends object> {
  private readonly listeners = new Map<keyof M, Set<Listener<never>>>();

  on<K extends keyof M>(event: K, listener: Listener<M[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  /** Resolves with the next value of `event`. */
  once<K extends keyof M>(event: K): Promise<M[K]> {
    return new Promise((resolve) => {
      const off = this.on(event, (value) => {
        off();
        resolve(value);
      });
    });
  }

  emit<K extends keyof M>(event: K, value: M[K]): void {
    for (const listener of this.listeners.get(event) ?? []) {
      try {
        (listener as Listener<M[K]>)(value);
      } catch {
        // A listener's failure is its own.
      }
    }
  }

  removeAll(): void {
    this.listeners.clear();
  }
}
