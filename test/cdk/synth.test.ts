import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('npx cdk synth', () => {
  it('works offline with the example cdk.json, bundling each handler with the local esbuild', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'cdk-out-'));
    try {
      // No AWS credentials, no network, no Docker: everything must come from this checkout.
      const env = {
        ...process.env,
        AWS_ACCESS_KEY_ID: '',
        AWS_SECRET_ACCESS_KEY: '',
        AWS_PROFILE: '',
        CDK_DISABLE_VERSION_CHECK: '1',
      };
      execFileSync('npx', ['cdk', 'synth', '--quiet', '--output', out, '--no-notices'], {
        cwd: ROOT,
        env,
        stdio: 'pipe',
        timeout: 300_000,
      });
      const templates = readdirSync(out).filter((file) => file.endsWith('.template.json'));
      expect(templates).toHaveLength(1);
      const template = JSON.parse(readFileSync(path.join(out, templates[0] ?? ''), 'utf8')) as {
        Resources: Record<string, { Type: string; Metadata?: Record<string, string> }>;
      };
      const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
      expect(functions.length).toBeGreaterThan(5);
      for (const fn of functions) {
        const asset = fn.Metadata?.['aws:asset:path'];
        expect(asset, 'every function has a bundled asset').toBeTypeOf('string');
        const bundle = path.join(out, asset ?? '', 'index.js');
        expect(existsSync(bundle), bundle).toBe(true);
        expect(readFileSync(bundle, 'utf8')).toContain('handler');
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
