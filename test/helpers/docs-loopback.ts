/**
 * Preloaded (`--import`) into each docs snippet test/docs-run.test.ts runs: a
 * server the snippet starts without a host listens on 127.0.0.1 only (the
 * tests stay on loopback), and once it listens its address is written to
 * stderr as `docs-run: listening <port>`.
 */
import net from 'node:net';

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
  const [first, second] = args;
  if (typeof first === 'number' && typeof second !== 'string') args.splice(1, 0, '127.0.0.1');
  else if (typeof first === 'object' && first !== null && 'port' in first && !('host' in first)) args[0] = { ...first, host: '127.0.0.1' };
  this.once('listening', () => {
    const address = this.address();
    if (typeof address === 'object' && address !== null) process.stderr.write(`docs-run: listening ${address.port}\n`);
  });
  return listen.apply(this, args as Parameters<typeof listen>);
} as typeof listen;
