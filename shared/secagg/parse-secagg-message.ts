/**
 * Parses a secure-aggregation message with its zod schema; a message that does not
 * parse is refused with SecAggError('malformed') naming the first problem.
 */
import type { z } from 'zod';
import { SecAggError } from './secagg-error.ts';

export function parseSecAggMessage<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, message: unknown, what: string): T {
  const r = schema.safeParse(message);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new SecAggError('malformed', `${what}: ${issue.path.join('.') || '(root)'} ${issue.message}`);
}
