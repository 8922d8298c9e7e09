#!/usr/bin/env node
// The `nanscan` command: the bundled command, run with its code cache (host.cjs).
'use strict';
require('./host.cjs').run('cli');
