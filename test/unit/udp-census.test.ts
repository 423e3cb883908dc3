// The census the call e2e test uses to show the bridge opens no media socket
// must be able to fail: a process that binds UDP is counted.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { udpSocketsOf } from "../helpers/udp-census.js";

describe("UDP socket census from /proc", function () {
  this.timeout(30_000);

  it("counts the UDP sockets a process binds, and none in one that binds none", async function () {
    const script =
      "const d=require('node:dgram');const n=+process.argv[1];let left=n;" +
      "if(!n)console.log('ready');" +
      "for(let i=0;i<n;i++)d.createSocket('udp4').bind(0,'127.0.0.1',()=>{if(--left===0)console.log('ready')});" +
      "setInterval(()=>{},1000)";
    for (const n of [0, 2]) {
      const child = spawn(process.execPath, ["-e", script, String(n)], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      try {
        await once(child.stdout, "data");
        assert.equal(udpSocketsOf(child.pid!), n);
      } finally {
        child.kill("SIGKILL");
      }
    }
  });
});
