/**
 * The portcullis strategy each configuration uses, built from the shared key
 * material exactly as an application would configure it.
 */
import type { Strategy } from '../../src/core/types.js';
import { createHmacStrategy } from '../../src/strategies/hmac.js';
import { createJwtStrategy } from '../../src/strategies/jwt.js';
import { createTicketStrategy } from '../../src/strategies/ticket.js';
import { secretOf } from '../lib/credentials.js';
import type { ServerConfig } from './protocol.js';

export function strategyFor(config: ServerConfig): Strategy {
  const { keys } = config;
  switch (config.strategy) {
    case 'ticket':
      return createTicketStrategy();
    case 'hmac':
      return createHmacStrategy({ keys: { [keys.hmacKeyId]: secretOf(keys.hmacSecret) } });
    case 'jwt-hs256':
      return createJwtStrategy({ algorithms: ['HS256'], secret: keys.hs256Secret });
    case 'jwt-es256':
      return createJwtStrategy({ algorithms: ['ES256'], publicKey: keys.es256PublicJwk });
    case 'none':
      // The guard's own cost: a strategy that admits everyone.
      return { name: 'none', authenticate: async () => ({ id: 'anyone' }) };
  }
}
