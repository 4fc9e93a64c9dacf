import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { compileKernel, generatedModule, WASM_KERNELS } from './build-wasm-kernels.ts';

for (const kernel of WASM_KERNELS) {
  test(`${kernel.output} is what ${kernel.source} compiles to (npm run build:kernels rebuilds it)`, async () => {
    const committed = await readFile(fileURLToPath(new URL(`../../${kernel.output}`, import.meta.url)), 'utf8');
    const binary = await compileKernel(kernel);
    assert.ok(WebAssembly.validate(new Uint8Array(binary)), 'the compiler emitted a valid module');
    assert.equal(generatedModule(kernel, binary), committed, `stale: run npm run build:kernels and commit ${kernel.output}`);
  });
}

test('a kernel source with an error is refused with the compiler\'s message', async () => {
  await assert.rejects(compileKernel({ source: 'coordinator/build/build-wasm-kernels.test.ts', output: 'unused', constant: 'UNUSED' }), /asc failed on coordinator\/build\/build-wasm-kernels\.test\.ts/);
});
