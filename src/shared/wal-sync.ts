// A durability barrier for a SQLite database in WAL mode with synchronous=NORMAL.
//
// With NORMAL, a commit is written to the WAL (the OS has it: it survives the
// process being killed) but not fsynced, so it may be lost with the machine
// (power loss, kernel crash). Before anything relying on such commits is
// acknowledged to someone else, sync() fsyncs the WAL file: the WAL is an
// append log replayed in order, so the fsync makes every commit before it
// durable. The fsync runs in libuv's thread pool, so the event loop goes on
// meanwhile (a synchronous=FULL commit blocks it for the whole fsync), and the
// callers that ask while one is running share the next one. The WAL's file
// handle is kept open between fsyncs (opening, statting and closing it each
// time was three more thread-pool trips per barrier); a cheap stat of the path
// tells when SQLite made a new WAL file, and the handle is then replaced.
import { statSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";

export class WalSync {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;
  /** The WAL's inode whose directory entry was synced (SQLite itself syncs it only at a checkpoint under NORMAL). */
  private dirSyncedFor: number | undefined;
  private count = 0;
  /** The open WAL file and its inode, kept between fsyncs. */
  private held: { file: FileHandle; ino: number } | undefined;
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

  /** Closes the kept WAL handle once the fsyncs under way are done (a later sync opens it again). */
  async close(): Promise<void> {
    await Promise.allSettled([this.running, this.next]);
    await this.release();
  }

  private async release(): Promise<void> {
    const held = this.held;
    this.held = undefined;
    await held?.file.close();
  }

  private async run(): Promise<void> {
    const wal = `${this.dbFile}-wal`;
    let ino: number;
    try {
      ino = statSync(wal).ino;
    } catch (err) {
      // No WAL: nothing written since the last checkpoint, which synced the database file.
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return this.release();
      throw err;
    }
    if (this.held?.ino !== ino) {
      await this.release();
      let file: FileHandle;
      try {
        file = await open(wal, "r");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
        throw err;
      }
      // The inode of what was opened (the path may have been replaced since the stat).
      this.held = { file, ino: (await file.stat()).ino };
    }
    const { file, ino: heldIno } = this.held;
    await file.datasync();
    this.count++;
    WalSync.all++;
    if (heldIno !== this.dirSyncedFor) {
      const dir = await open(dirname(this.dbFile), "r");
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
      this.dirSyncedFor = heldIno;
    }
  }
}
