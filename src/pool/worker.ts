/** Worker entry: the file the pool starts as a worker thread or a child process. Wiring only. */
import { startWorker } from './worker-main.js';

startWorker();
