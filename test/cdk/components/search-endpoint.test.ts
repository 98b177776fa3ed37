import { describe, expect, it } from 'vitest';
import { searchConfigSchema } from '../../../cdk/components/search.ts';

/** `cdk synth` refuses credentials in the search endpoint, including a password the URL parser misreads. */
describe('search endpoint in cdk.json', () => {
  const parse = (endpoint: string) =>
    searchConfigSchema.safeParse({ enabled: true, engine: 'elasticsearch', endpoint });

  it('refuses user info, and a password whose unencoded "/" hides it in the path, without quoting it', () => {
    for (const endpoint of [
      'https://elastic:S3cret@search.example:9200',
      'https://elastic:2024/S3cret@search.example:9200',
    ]) {
      const parsed = parse(endpoint);
      expect(parsed.success).toBe(false);
      const message = JSON.stringify(parsed.error?.issues);
      expect(message).toContain('no credentials in the URL: use credentialsParameter');
      expect(message).not.toContain('S3cret');
    }
  });

  it('takes a plain endpoint', () => {
    expect(parse('https://vpc-liferay-abc.eu-west-1.es.amazonaws.com').success).toBe(true);
  });
});
