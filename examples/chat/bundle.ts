/**
 * Bundles the demo page's script (`app.ts`: `portcullis/client` + `socket.io-client`)
 * for the browser with esbuild, in memory, once per start.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** Builds `app.ts` for the browser and returns the JavaScript (ESM, with an inline source map). */
export async function buildClient(): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('./app.ts', import.meta.url))],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    sourcemap: 'inline',
    write: false,
    logLevel: 'silent',
  });
  const [file] = result.outputFiles;
  if (file === undefined) throw new Error('esbuild produced no output');
  return file.text;
}
