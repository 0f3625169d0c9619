/**
 * One suite, two transports (issue #4): the behaviours of test/behaviour/suite.ts run
 * against the Socket.IO adapter and the `ws` adapter, on real loopback servers.
 */
import { describe } from 'node:test';
import { socketIoHarness } from './socket-io-harness.js';
import { behaviourSuite } from './suite.js';
import { wsHarness } from './ws-harness.js';

for (const harness of [socketIoHarness, wsHarness]) {
  describe(harness.name, () => behaviourSuite(harness));
}
