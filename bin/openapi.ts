/** `npm run openapi`: writes docs/openapi.json from the API's zod schemas (lambdas/core/api/openapi.ts). */
import { writeFileSync } from 'node:fs';
import { openApiText } from '../lambdas/core/api/openapi.ts';

const target = new URL('../docs/openapi.json', import.meta.url);
writeFileSync(target, openApiText());
process.stdout.write(`wrote ${target.pathname}\n`);
