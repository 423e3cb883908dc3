"use strict";
// npm puts node_modules/.bin first on PATH, so scripts run on the Node.js that
// the `node` package installed, whatever the machine has. Fail early and clearly otherwise.
const major = Number(process.versions.node.split(".")[0]);
if (major < 22) {
  console.error(
    `matrix-appservice-people needs Node.js >= 22, but ${process.execPath} is ${process.version}. ` +
      "Run the scripts through npm (npm start, npm test) after `npm ci`, which installs Node.js 22 into node_modules/.bin.",
  );
  process.exit(1);
}
