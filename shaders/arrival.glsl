// Last arrival: a result that several workgroups of one dispatch each produce a share of
// (the splits of a split-KV decode attention head; the rows of a q8_1 block) is finished
// by the workgroup whose share completes it, in the same dispatch: no second pass and no
// pipeline barrier between two dispatches. Each result has a counter (a slot); a workgroup
// adds its share's size to it once its share is written, and the workgroup that brings it
// to the total reads every share and finishes the result, then resets the counter to 0,
// so that the counters are ready for the next dispatch (the host zeroes them once, when it
// allocates them). No workgroup waits for another: nothing assumes the workgroups of a
// result run concurrently (none spins), so any schedule and any device is safe.
//
// Memory visibility across workgroups (the shares are written and read by different
// workgroups on different compute units, whose L1 caches are not coherent on GPUs): the
// buffers the shares go through are declared `coherent` by the includer, and
//   writer: share stores; memoryBarrierBuffer(); barrier(); one thread: atomicAdd
//   reader: (that atomicAdd returned the total) barrier(); memoryBarrierBuffer(); loads
// CUDA's threadfence reduction (__threadfence before the atomicInc, volatile loads after).
// glslang turns memoryBarrierBuffer() into OpMemoryBarrier at Device scope with
// AcquireRelease | UniformMemory semantics and `coherent` into device-coherent accesses
// (AMD: GLC loads that skip the non-coherent L0/L1; NVIDIA: L1-bypassing loads), so the
// stores of every thread of a writer are visible at device scope before its atomic and the
// last arriver's loads come after its own. Not GL_KHR_memory_scope_semantics (atomicAdd
// with gl_ScopeQueueFamily and gl_SemanticsRelease / Acquire): that needs the device's
// vulkanMemoryModel feature, which vkrt enables only with cooperative matrices (runtime/vk/
// device.cpp) and which older phone drivers lack; this form runs on every Vulkan 1.1 device.
//
// The includer defines ARRIVAL_BINDING, the binding of the counters (uint words; it may
// alias a binding the includer declares otherwise: the attention's split scratch holds its
// counters in its first words), and may define ARRIVAL_FLAG, a shared float that
// last_arrival may overwrite (it broadcasts thread 0's answer through it; the matvec's
// reduction scratch, whose shapes fill the device's shared memory to the byte), else a
// shared float of its own is declared.
#ifndef VKRT_ARRIVAL_GLSL
#define VKRT_ARRIVAL_GLSL

layout(binding = ARRIVAL_BINDING) coherent buffer Arrivals { uint arrivals[]; };
#ifndef ARRIVAL_FLAG
shared float arrival_flag[1];
#define ARRIVAL_FLAG arrival_flag[0]
#endif

// Called by every thread of the workgroup in uniform control flow, after each thread's
// stores of the workgroup's share (to coherent buffers): adds `amount` to counter `slot`,
// whose results are complete at `total`. True in every thread of the workgroup that
// completes it (its coherent loads then see every workgroup's share; the counter is 0
// again), false in every thread of the others.
// ARRIVAL_FLAG is written after the first barrier and read before the caller's next
// barrier: the includer's other uses of it must be done before the call (each thread's).
bool last_arrival(uint slot, uint amount, uint total) {
    memoryBarrierBuffer();  // this thread's share visible at device scope ...
    barrier();              // ... in every thread before the workgroup arrives
    if (gl_LocalInvocationID.x == 0u) {
        const bool last = atomicAdd(arrivals[slot], amount) + amount == total;
        // Every share has arrived: nothing else touches the counter in this dispatch.
        if (last) atomicExchange(arrivals[slot], 0u);
        ARRIVAL_FLAG = last ? 1.0 : 0.0;
    }
    barrier();
    const bool last = ARRIVAL_FLAG != 0.0;
    if (last) memoryBarrierBuffer();  // the other workgroups' shares after the atomic
    return last;
}

#endif
