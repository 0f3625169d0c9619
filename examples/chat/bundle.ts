/**
 * Bundles the demo page's script (`app.ts`: `portcullis/client` + `socket.io-client`)
 * for the browser with esbuild, in memory, once per process.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

let cached: Promise<string> | undefined;

/** Builds `app.ts` for the browser (once per process) and returns the JavaScript (ESM). */
export function buildClient(): Promise<string> {
  cached ??= bundle().catch((err: unknown) => {
    cached = undefined;
    throw err;
  });
  return cached;
}

async function bundle(): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('./app.ts', import.meta.url))],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  const [file] = result.outputFiles;
  if (file === undefined) throw new Error('esbuild produced no output');
  return file.text;
}
