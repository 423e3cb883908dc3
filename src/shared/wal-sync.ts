// A durability barrier for a SQLite database in WAL mode with synchronous=NORMAL.
//
// With NORMAL, a commit is written to the WAL (the OS has it: it survives the
// process being killed) but not fsynced, so it may be lost with the machine
// (power loss, kernel crash). Before anything relying on such commits is
// acknowledged to someone else, sync() fsyncs the WAL file: the WAL is an
// append log replayed in order, so the fsync makes every commit before it
// durable. The fsync runs in libuv's thread pool, so the event loop goes on
// meanwhile (a synchronous=FULL commit blocks it for the whole fsync), and the
// callers that ask while one is running share the next one.
import { open } from "node:fs/promises";
import { dirname } from "node:path";

export class WalSync {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;
  /** The WAL's inode whose directory entry was synced (SQLite itself syncs it only at a checkpoint under NORMAL). */
  private dirSyncedFor: number | undefined;
  private count = 0;
  private static all = 0;

  constructor(private readonly dbFile: string) {}

  /** fsyncs this barrier did (tests count them). */
  get syncs(): number {
    return this.count;
  }

  /** fsyncs every barrier of the process did (the bridge's metrics, for the bench). */
  static get total(): number {
    return WalSync.all;
  }

  /** Resolves once every commit made before the call is durable. */
  sync(): Promise<void> {
    if (!this.running) {
      this.running = this.run().finally(() => (this.running = undefined));
      return this.running;
    }
    // The fsync under way may have started before the caller's commit: one more after it.
    if (!this.next) {
      const again = (): Promise<void> => {
        this.next = undefined;
        return this.sync();
      };
      this.next = this.running.then(again, again);
    }
    return this.next;
  }

  private async run(): Promise<void> {
    let file;
    try {
      file = await open(`${this.dbFile}-wal`, "r");
    } catch (err) {
      // No WAL: nothing written since the last checkpoint, which synced the database file.
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    try {
      await file.datasync();
      this.count++;
      WalSync.all++;
      const { ino } = await file.stat();
      if (ino !== this.dirSyncedFor) {
        const dir = await open(dirname(this.dbFile), "r");
        try {
          await dir.sync();
        } finally {
          await dir.close();
        }
        this.dirSyncedFor = ino;
      }
    } finally {
      await file.close();
    }
  }
}
