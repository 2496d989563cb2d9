#!/usr/bin/env node
// Runs the CLI on the project's pinned Node 24 with --no-node-snapshot (isolated-vm needs it),
// whichever node started this shim.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let nodeBin = process.execPath;
if (Number(process.versions.node.split('.')[0]) < 24) {
  try {
    nodeBin = join(dirname(createRequire(join(root, 'package.json')).resolve('node/package.json')), 'bin', 'node');
  } catch {
    console.error('gatehouse needs Node.js 24: run `npm install` in the project first');
    process.exit(1);
  }
}
const child = spawn(nodeBin, ['--no-node-snapshot', join(root, 'src', 'cli', 'main.ts'), ...process.argv.slice(2)], { stdio: 'inherit' });
// A signal to this shim (a supervisor's SIGTERM, Ctrl-C) goes to the CLI, which shuts the server
// down gracefully; the shim exits as the CLI did. Without this the server was left running.
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => { child.kill(sig); });
child.on('error', (err) => { console.error(`gatehouse: could not start Node.js: ${err.message}`); process.exit(1); });
child.on('exit', (code, signal) => {
  if (signal) { process.removeAllListeners(signal); process.kill(process.pid, signal); return; }
  process.exit(code ?? 1);
});
