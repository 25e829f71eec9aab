import { MemoryCatalogStore } from './memory-catalog-store.ts';
import { catalogStoreContract } from './catalog-store.contract.ts';

catalogStoreContract('in-memory', () => Promise.resolve(new MemoryCatalogStore()));
