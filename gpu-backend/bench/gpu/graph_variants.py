"""Graph-only variants of a converted model's top_k graph, to price parts of a decode step on a GPU host.

    python3 graph_variants.py <model-dir> <out-dir> <variant>

writes <out-dir> (model.topk.onnx rewritten, the weights hard-linked, the rest copied) for
`step-probe.mjs <out-dir> --graphs model.topk.onnx`. Variants:
  hostonly  no host-located output: a step never waits for the GPU (the host's own cost per step)
  nomass    drop the per-layer top-k mass scaling (wrong numbers: prices 4 nodes a layer)
  lean      hostonly + nomass
  splitk    the router MatMul as a split-K batched MatMul and a ReduceSum
  feed      input_ids read on the GPU, plus an output next_ids [B, 1] (this step's greedy ids as
            int64 on the GPU) to feed the next step: `step-probe --feed --window N` (multi-step decode)
Needs the onnx package (the GPU hosts' Python has it).
"""
import os
import shutil
import sys

from onnx import TensorProto, helper, load, save

src, dst, variant = sys.argv[1], sys.argv[2], sys.argv[3]
GRAPH = 'model.topk.onnx'
os.makedirs(dst, exist_ok=True)
for f in os.listdir(src):
    p, q = os.path.join(src, f), os.path.join(dst, f)
    if f == GRAPH or os.path.exists(q):
        continue
    if f.endswith('.data'):
        os.link(p, q)
    elif os.path.isdir(p):
        shutil.copytree(p, q)
    elif not f.endswith('.onnx'):
        shutil.copy(p, q)
m = load(os.path.join(src, GRAPH), load_external_data=False)
g = m.graph
by = {n.name: n for n in g.node}


def ints(name, vals):
    g.initializer.append(helper.make_tensor(name, TensorProto.INT64, [len(vals)], vals))
    return name


out = []
for n in g.node:
    if variant == 'splitk' and n.name.endswith('/router_and_shared_gate/MatMul'):
        x, w = n.input
        p = n.name
        out += [helper.make_node('Reshape', [x, ints(p + '/xs', [-1, 32, 1, 64])], [p + '/xr'], name=p + '/XR'),
                helper.make_node('Reshape', [w, ints(p + '/ws', [32, 64, -1])], [p + '/wr'], name=p + '/WR'),
                helper.make_node('MatMul', [p + '/xr', p + '/wr'], [p + '/mm'], name=p + '/MM'),
                helper.make_node('ReduceSum', [p + '/mm', ints(p + '/ax', [1, 2])], n.output, name=p + '/RS', keepdims=0)]
        continue
    if variant in ('nomass', 'lean') and n.name.endswith('/qmoe/Unnormalize'):
        out.append(helper.make_node('Identity', [n.input[0]], n.output, name=n.name))
        continue
    out.append(n)

if variant in ('hostonly', 'lean'):
    keep = [o for o in g.output if o.name != 'host_outputs']
    del g.output[:]
    g.output.extend(keep)

if variant == 'feed':
    # No CPU node may read input_ids: its copy to the host would wait for the GPU.
    gather = by['/model/embed_tokens/Gather']
    hidden = [t for t in g.initializer if t.name == gather.input[0]][0].dims[1]
    gather.input[1] = 'input_ids'
    flat = gather.output[0]
    gather.output[0] = 'feed/emb3'
    at = out.index(gather) + 1
    out[at:at] = [helper.make_node('Reshape', ['feed/emb3', ints('feed/hs', [-1, hidden])], [flat], name='feed/Flat'),
                  helper.make_node('Shape', ['feed/emb3'], ['feed/shape3'], name='feed/Shape')]
    by['/model/gqa_shapes/Shape'].op_type = 'Identity'
    by['/model/gqa_shapes/Shape'].input[0] = 'feed/shape3'
    out = [n for n in out if n.name != '/model/embed_tokens/FlatIds']
    # Float until the last op: ORT puts small int64 ops (Unsqueeze, Identity) on the CPU.
    ids = by['/lm_head/greedy/Id'].output[0]
    out += [helper.make_node('Unsqueeze', [ids, ints('feed/ax1', [1])], ['feed/ids2'], name='feed/Ids2'),
            helper.make_node('Cast', ['feed/ids2'], ['next_ids'], name='feed/NextIds', to=TensorProto.INT64)]
    g.output.append(helper.make_tensor_value_info('next_ids', TensorProto.INT64, ['rows', 1]))

# Keep what the outputs need, in order.
need = {o.name for o in g.output}
kept = []
for n in reversed(out):
    if any(o in need for o in n.output if o):
        kept.append(n)
        need.update(i for i in n.input if i)
kept.reverse()
del g.node[:]
g.node.extend(kept)
save(m, os.path.join(dst, GRAPH))
print(variant, len(kept), 'nodes; outputs', [o.name for o in g.output if not o.name.startswith('present')])
