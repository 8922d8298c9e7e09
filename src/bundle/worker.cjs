// The pool's worker entry in the command (src/pool/pool.ts): the bundled worker, run with its code cache (host.cjs).
'use strict';
require('./host.cjs').run('worker-main');
