// The tensor layer: libtorch tensors from TypeScript with deterministic memory and safetensors I/O.
export * from './tensor.js';
export * from './ops.js';
export * from './context.js';
export * from './safetensors.js';
