/** The environment of the orchestration Lambdas, validated once (a missing variable names itself). */
import { z } from 'zod';
import { ValidationError } from '../../core/errors.ts';
import { zodProblems } from './step-handler.ts';

export function readEnvironment<T extends z.ZodRawShape>(
  shape: T,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<z.ZodObject<T>> {
  const parsed = z.object(shape).safeParse(env);
  if (!parsed.success)
    throw new ValidationError(`Lambda environment is incomplete: ${zodProblems(parsed.error)}`);
  return parsed.data;
}

export const TABLE_NAME = z.string().min(1);
export const EVENT_BUS_NAME = z.string().min(1);
export const TOPIC_ARN = z.string().min(1);
