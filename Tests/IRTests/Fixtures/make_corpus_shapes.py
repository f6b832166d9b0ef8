# Regenerates corpus_shapes.json: python make_corpus_shapes.py corpus_shapes.json (needs onnx, onnxruntime, numpy
# and shared/corpus at /work/shared/corpus). Shapes come from running each model on its reference inputs.
import onnx, json, numpy as np, onnxruntime as ort, sys
from onnx import shape_inference, helper
man = json.load(open('/work/shared/corpus/MANIFEST.json'))
out = {}
for m in man['models']:
    path = '/work/shared/corpus/' + m['file']
    model = onnx.load(path)
    g = model.graph
    inits = {i.name for i in g.initializer}
    static = {i['name']: i['static_shape'] for i in m['inputs']}
    # onnx inference with static inputs
    for inp in g.input:
        if inp.name in static:
            t = inp.type.tensor_type
            del t.shape.dim[:]
            for d in static[inp.name]:
                t.shape.dim.add().dim_value = d
    inf = shape_inference.infer_shapes(model, data_prop=True)
    onnx_shapes = {}
    for vi in list(inf.graph.value_info) + list(inf.graph.output):
        t = vi.type.tensor_type
        if t.HasField('shape'):
            onnx_shapes[vi.name] = [d.dim_value if d.HasField('dim_value') else (d.dim_param or '?') for d in t.shape.dim]
    # ground truth from ORT: expose every main-graph node output
    names = []
    for n in g.node:
        for o in n.output:
            if o and o not in names: names.append(o)
    m2 = onnx.load(path)
    existing = {o.name for o in m2.graph.output}
    for nm in names:
        if nm not in existing:
            m2.graph.output.append(helper.make_empty_tensor_value_info(nm))
    so = ort.SessionOptions(); so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(m2.SerializeToString(), so, providers=['CPUExecutionProvider'])
    feeds = {}
    for i in m['inputs']:
        arr = np.load('/work/shared/corpus/' + i['ref']) if i.get('ref') else None
        if arr is None:
            arr = np.zeros(i['static_shape'], dtype=i['dtype'])
        feeds[i['name']] = arr
    outs = sess.run(None, feeds)
    truth = {}
    types = {}
    for o, v in zip(sess.get_outputs(), outs):
        truth[o.name] = list(np.asarray(v).shape)
        types[o.name] = str(np.asarray(v).dtype)
    mism = [k for k in truth if k in onnx_shapes and onnx_shapes[k] != truth[k]]
    miss = [k for k in truth if k not in onnx_shapes]
    print(m['name'], 'values', len(truth), 'onnx mismatches', len(mism), mism[:5], 'onnx missing', len(miss), miss[:5], file=sys.stderr)
    out[m['name']] = {'inputs': static, 'opset': m['opset_import'], 'shapes': truth, 'elementTypes': types}
json.dump(out, open(sys.argv[1], 'w'), indent=0, sort_keys=True)
