// Imported first by tests that run handlers in-process: keeps Powertools' logs and EMF metrics
// out of the test output (set before the handlers' modules build their Logger and Metrics).
process.env['POWERTOOLS_LOG_LEVEL'] ??= 'SILENT';
process.env['POWERTOOLS_METRICS_DISABLED'] ??= 'true';
process.env['POWERTOOLS_TRACE_ENABLED'] ??= 'false';
