import { main } from './main.js';
import { exitOnUnexpectedFailure } from './unexpected-failure.js';

exitOnUnexpectedFailure();
void main();
