#!/usr/bin/env node
// The `vmail` command: runs the compiled CLI (built by `npm install` via the prepare script).
import '../dist/src/cli.js';
