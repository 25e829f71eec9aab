/**
 * Lambda "build-catalog": Build Catalog (core/catalog/catalog-step.ts, catalogImageStep): the
 * catalog of the committed image. Damage inside the image is recorded, not thrown.
 */
import { catalogImageStep, type CatalogStepDeps } from '../core/catalog/catalog-step.ts';
import { catalogInputSchema } from '../core/orchestration/step-state.ts';
import { stepLog } from '../aws/observability.ts';
import { lambdaWiring } from '../aws/wiring.ts';
import { createStepHandler, lazyHandler } from './support/step-handler.ts';

export type BuildCatalogHandlerDeps = CatalogStepDeps;

export function createBuildCatalogHandler(deps: BuildCatalogHandlerDeps) {
  return createStepHandler('build-catalog', catalogInputSchema, (input) =>
    catalogImageStep(deps, input, stepLog),
  );
}

export const handler = lazyHandler(() => {
  const wiring = lambdaWiring();
  return createBuildCatalogHandler({
    records: wiring.records(),
    images: wiring.images(),
    catalog: wiring.catalog(),
  });
});
