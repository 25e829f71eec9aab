/** FAT12/16/32 and exFAT readers. */
export { openFat, FatFilesystem } from './fat.ts';
export type { OpenFatOptions } from './fat.ts';
export { openExfat, ExfatFilesystem } from './exfat.ts';
export type { OpenExfatOptions } from './exfat.ts';
export { DEFAULT_FAT_LIMITS } from './limits.ts';
export type { FatLimits } from './limits.ts';
