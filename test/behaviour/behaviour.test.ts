/**
 * One suite, two transports (issue #4), through the published conformance kit
 * (`portcullis/conformance`, issue #18): every behaviour of src/conformance/suite*.ts runs
 * against the Socket.IO adapter and the `ws` adapter, on real loopback servers, with the
 * kit's reference clients.
 */
import { defineConformance } from '../../src/conformance/index.js';
import { socketIoHarness } from '../../src/conformance/socket-io-harness.js';
import { wsHarness } from '../../src/conformance/ws-harness.js';

for (const harness of [socketIoHarness, wsHarness]) defineConformance(harness);
