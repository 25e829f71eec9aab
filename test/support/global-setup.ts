// Placeholder until the local stack lands: the local-stack global setup replaces this file.
export default function setup(): void {}
