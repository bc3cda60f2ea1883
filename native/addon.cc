// Thin N-API binding over libtorch. One generic entry point calls any ATen operator by
// schema name through the c10 dispatcher (boxed), so autograd and autocast apply and this
// file never grows per operator. All JS <-> IValue conversion lives here.
#include <napi.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

// libtorch 2.4 replaced the per-device autocast switches with ones that take a device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define SEMIPOISON_DEVICE_TYPE_AUTOCAST 1
#endif

namespace {

std::atomic<int64_t> g_live{0};

// ---------------------------------------------------------------- dtype names

struct DtypeName {
  const char* name;
  at::ScalarType type;
};
const DtypeName kDtypes[] = {
    {"float32", at::kFloat}, {"float64", at::kDouble}, {"float16", at::kHalf},
    {"bfloat16", at::kBFloat16}, {"int64", at::kLong}, {"int32", at::kInt},
    {"int16", at::kShort}, {"int8", at::kChar}, {"uint8", at::kByte},
    {"bool", at::kBool},
};

const char* dtypeName(at::ScalarType t) {
  for (const auto& d : kDtypes)
    if (d.type == t) return d.name;
  return c10::toString(t);
}

at::ScalarType parseDtype(const std::string& s) {
  for (const auto& d : kDtypes)
    if (s == d.name) return d.type;
  throw std::invalid_argument("unknown dtype '" + s + "'");
}

// ---------------------------------------------------------------- tensor handle

class NTensor : public Napi::ObjectWrap<NTensor> {
 public:
  static Napi::FunctionReference* ctor;
  at::Tensor t;

  static Napi::Object Init(Napi::Env env, Napi::Object exports);
  static Napi::Object Wrap(Napi::Env env, at::Tensor t);
  static bool Is(const Napi::Value& v) {
    return v.IsObject() && v.As<Napi::Object>().InstanceOf(ctor->Value());
  }

  explicit NTensor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NTensor>(info) {}
  ~NTensor() override { release(); }

  void set(at::Tensor v) {
    release();
    t = std::move(v);
    if (t.defined()) g_live++;
  }
  void release() {
    if (t.defined()) {
      g_live--;
      t = at::Tensor();
    }
  }
  const at::Tensor& get(Napi::Env env) const {
    if (!t.defined()) throw Napi::Error::New(env, "tensor has been disposed");
    return t;
  }

 private:
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value Dtype(const Napi::CallbackInfo& info);
  Napi::Value Device(const Napi::CallbackInfo& info);
  Napi::Value Free(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  Napi::Value ToArray(const Napi::CallbackInfo& info);
  Napi::Value RequiresGrad(const Napi::CallbackInfo& info);
  Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info);
  Napi::Value Grad(const Napi::CallbackInfo& info);
  Napi::Value SetGrad(const Napi::CallbackInfo& info);
  Napi::Value Backward(const Napi::CallbackInfo& info);
  Napi::Value Same(const Napi::CallbackInfo& info);
  Napi::Value IsContiguous(const Napi::CallbackInfo& info);
};

Napi::FunctionReference* NTensor::ctor = nullptr;

Napi::Object NTensor::Wrap(Napi::Env env, at::Tensor t) {
  Napi::Object obj = ctor->New({});
  NTensor::Unwrap(obj)->set(std::move(t));
  return obj;
}

std::string describe(const at::Tensor& t) {
  if (!t.defined()) return "undefined";
  std::ostringstream s;
  s << "[";
  for (int64_t i = 0; i < t.dim(); i++) s << (i ? "," : "") << t.size(i);
  s << "] " << dtypeName(t.scalar_type());
  if (!t.device().is_cpu()) s << " " << t.device().str();
  return s.str();
}

// Rethrows any libtorch or std exception as a JS Error with a readable message.
template <typename F>
Napi::Value guard(Napi::Env env, const std::string& what, F&& f) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, what + ": " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, what + ": " + e.what());
  }
}

Napi::Value NTensor::Shape(const Napi::CallbackInfo& info) {
  const auto& x = get(info.Env());
  auto arr = Napi::Array::New(info.Env(), x.dim());
  for (int64_t i = 0; i < x.dim(); i++) arr[uint32_t(i)] = Napi::Number::New(info.Env(), double(x.size(i)));
  return arr;
}

Napi::Value NTensor::Dtype(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), dtypeName(get(info.Env()).scalar_type()));
}

Napi::Value NTensor::Device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), get(info.Env()).device().str());
}

Napi::Value NTensor::Free(const Napi::CallbackInfo& info) {
  release();
  return info.Env().Undefined();
}

Napi::Value NTensor::Disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !t.defined());
}

Napi::Value NTensor::IsContiguous(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), get(info.Env()).is_contiguous());
}

Napi::Value NTensor::Same(const Napi::CallbackInfo& info) {
  if (!Is(info[0])) return Napi::Boolean::New(info.Env(), false);
  const auto& o = Unwrap(info[0].As<Napi::Object>())->t;
  return Napi::Boolean::New(info.Env(), t.defined() && o.defined() && t.is_same(o));
}

// Copies the tensor's data into a new TypedArray of the matching element type.
Napi::Value NTensor::ToArray(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& src = get(env);
  return guard(env, "toArray(" + describe(src) + ")", [&]() -> Napi::Value {
    at::NoGradGuard ng;
    at::Tensor c = src.detach().to(at::kCPU).contiguous();
    size_t bytes = c.numel() * c.element_size();
    auto buf = Napi::ArrayBuffer::New(env, bytes);
    if (bytes) std::memcpy(buf.Data(), c.data_ptr(), bytes);
    size_t n = size_t(c.numel());
    switch (c.scalar_type()) {
      case at::kFloat: return Napi::Float32Array::New(env, n, buf, 0);
      case at::kDouble: return Napi::Float64Array::New(env, n, buf, 0);
      case at::kLong: return Napi::BigInt64Array::New(env, n, buf, 0);
      case at::kInt: return Napi::Int32Array::New(env, n, buf, 0);
      case at::kShort: return Napi::Int16Array::New(env, n, buf, 0);
      case at::kChar: return Napi::Int8Array::New(env, n, buf, 0);
      case at::kByte:
      case at::kBool: return Napi::Uint8Array::New(env, n, buf, 0);
      case at::kHalf:
      case at::kBFloat16: return Napi::Uint16Array::New(env, n, buf, 0);
      default: throw std::invalid_argument("unsupported dtype " + std::string(dtypeName(c.scalar_type())));
    }
  });
}

Napi::Value NTensor::RequiresGrad(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), get(info.Env()).requires_grad());
}

Napi::Value NTensor::SetRequiresGrad(const Napi::CallbackInfo& info) {
  const auto& x = get(info.Env());
  bool flag = info[0].ToBoolean();
  return guard(info.Env(), "setRequiresGrad(" + describe(x) + ")", [&]() -> Napi::Value {
    x.set_requires_grad(flag);
    return info.Env().Undefined();
  });
}

Napi::Value NTensor::Grad(const Napi::CallbackInfo& info) {
  const auto& g = get(info.Env()).grad();
  if (!g.defined()) return info.Env().Null();
  return Wrap(info.Env(), g);
}

// setGrad(null) drops the accumulated gradient (the cheap "zero_grad(set_to_none=True)").
Napi::Value NTensor::SetGrad(const Napi::CallbackInfo& info) {
  const auto& x = get(info.Env());
  if (info[0].IsNull() || info[0].IsUndefined()) {
    x.mutable_grad() = at::Tensor();
  } else if (Is(info[0])) {
    x.mutable_grad() = Unwrap(info[0].As<Napi::Object>())->get(info.Env());
  } else {
    throw Napi::TypeError::New(info.Env(), "setGrad expects a tensor or null");
  }
  return info.Env().Undefined();
}

Napi::Value NTensor::Backward(const Napi::CallbackInfo& info) {
  const auto& x = get(info.Env());
  return guard(info.Env(), "backward(" + describe(x) + ")", [&]() -> Napi::Value {
    at::Tensor g;
    if (info.Length() > 0 && Is(info[0])) g = Unwrap(info[0].As<Napi::Object>())->get(info.Env());
    bool retain = info.Length() > 1 && info[1].ToBoolean();
    std::vector<at::Tensor> grads;
    if (g.defined()) grads.push_back(g);
    torch::autograd::backward({x}, grads, retain, false);
    return info.Env().Undefined();
  });
}

Napi::Object NTensor::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function f = DefineClass(env, "NativeTensor",
                                 {
                                     InstanceMethod("shape", &NTensor::Shape),
                                     InstanceMethod("dtype", &NTensor::Dtype),
                                     InstanceMethod("device", &NTensor::Device),
                                     InstanceMethod("free", &NTensor::Free),
                                     InstanceMethod("disposed", &NTensor::Disposed),
                                     InstanceMethod("toArray", &NTensor::ToArray),
                                     InstanceMethod("requiresGrad", &NTensor::RequiresGrad),
                                     InstanceMethod("setRequiresGrad", &NTensor::SetRequiresGrad),
                                     InstanceMethod("grad", &NTensor::Grad),
                                     InstanceMethod("setGrad", &NTensor::SetGrad),
                                     InstanceMethod("backward", &NTensor::Backward),
                                     InstanceMethod("same", &NTensor::Same),
                                     InstanceMethod("isContiguous", &NTensor::IsContiguous),
                                 });
  ctor = new Napi::FunctionReference(Napi::Persistent(f));
  exports.Set("NativeTensor", f);
  return exports;
}

// ---------------------------------------------------------------- JS -> IValue

struct ConvError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string jsTypeName(const Napi::Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsUndefined()) return "undefined";
  if (v.IsBoolean()) return "boolean";
  if (v.IsNumber()) return "number";
  if (v.IsString()) return "string";
  if (v.IsArray()) return "array";
  if (NTensor::Is(v)) return "tensor";
  return "object";
}

int64_t toInt(const Napi::Value& v) {
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1 : 0;
  if (!v.IsNumber()) throw ConvError("expected an integer, got " + jsTypeName(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d))) throw ConvError("expected an integer, got " + std::to_string(d));
  return static_cast<int64_t>(d);
}

at::Tensor toTensor(Napi::Env env, const Napi::Value& v) {
  if (NTensor::Is(v)) return NTensor::Unwrap(v.As<Napi::Object>())->get(env);
  if (v.IsNumber()) {
    auto t = c10::scalar_to_tensor(at::Scalar(v.As<Napi::Number>().DoubleValue()));
    t.unsafeGetTensorImpl()->set_wrapped_number(true);
    return t;
  }
  throw ConvError("expected a tensor, got " + jsTypeName(v));
}

c10::IValue toIValue(Napi::Env env, const Napi::Value& v, const c10::TypePtr& type, c10::optional<int32_t> N) {
  switch (type->kind()) {
    case c10::TypeKind::OptionalType:
      if (v.IsNull() || v.IsUndefined()) return c10::IValue();
      return toIValue(env, v, type->castRaw<c10::OptionalType>()->getElementType(), N);
    case c10::TypeKind::TensorType:
      return toTensor(env, v);
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType:
    case c10::TypeKind::LayoutType:
    case c10::TypeKind::MemoryFormatType:
    case c10::TypeKind::ScalarTypeType:
      // Schemas declare ScalarType arguments as int; a dtype name stands for its enum value.
      if (v.IsString()) return static_cast<int64_t>(parseDtype(v.As<Napi::String>().Utf8Value()));
      return toInt(v);
    case c10::TypeKind::FloatType:
      if (!v.IsNumber()) throw ConvError("expected a number, got " + jsTypeName(v));
      return v.As<Napi::Number>().DoubleValue();
    case c10::TypeKind::BoolType:
      if (!v.IsBoolean()) throw ConvError("expected a boolean, got " + jsTypeName(v));
      return v.As<Napi::Boolean>().Value();
    case c10::TypeKind::NumberType:
      if (v.IsBoolean()) return at::Scalar(v.As<Napi::Boolean>().Value());
      if (v.IsNumber()) {
        double d = v.As<Napi::Number>().DoubleValue();
        // Integral JS numbers become integer Scalars so integer tensors keep their dtype.
        if (std::isfinite(d) && d == static_cast<double>(static_cast<int64_t>(d)) && std::abs(d) < 9007199254740992.0)
          return at::Scalar(static_cast<int64_t>(d));
        return at::Scalar(d);
      }
      throw ConvError("expected a number, got " + jsTypeName(v));
    case c10::TypeKind::StringType:
      if (!v.IsString()) throw ConvError("expected a string, got " + jsTypeName(v));
      return v.As<Napi::String>().Utf8Value();
    case c10::TypeKind::DeviceObjType:
      if (!v.IsString()) throw ConvError("expected a device string, got " + jsTypeName(v));
      return c10::Device(v.As<Napi::String>().Utf8Value());
    case c10::TypeKind::GeneratorType:
      if (v.IsNull() || v.IsUndefined()) return c10::IValue();
      throw ConvError("generators are not supported; seed the global generator");
    case c10::TypeKind::ListType: {
      auto elem = type->castRaw<c10::ListType>()->getElementType();
      std::vector<Napi::Value> items;
      if (v.IsArray()) {
        auto a = v.As<Napi::Array>();
        for (uint32_t i = 0; i < a.Length(); i++) items.push_back(a.Get(i));
      } else if (N && (v.IsNumber() || v.IsBoolean())) {
        for (int32_t i = 0; i < *N; i++) items.push_back(v);  // int[2] stride=1 -> [1, 1]
      } else {
        throw ConvError("expected an array, got " + jsTypeName(v));
      }
      switch (elem->kind()) {
        case c10::TypeKind::IntType:
        case c10::TypeKind::SymIntType: {
          std::vector<int64_t> out;
          for (auto& x : items) out.push_back(toInt(x));
          return out;
        }
        case c10::TypeKind::FloatType: {
          std::vector<double> out;
          for (auto& x : items) {
            if (!x.IsNumber()) throw ConvError("expected numbers in array");
            out.push_back(x.As<Napi::Number>().DoubleValue());
          }
          return out;
        }
        case c10::TypeKind::BoolType: {
          c10::List<bool> out;
          for (auto& x : items) out.push_back(x.ToBoolean().Value());
          return out;
        }
        case c10::TypeKind::TensorType: {
          std::vector<at::Tensor> out;
          for (auto& x : items) out.push_back(toTensor(env, x));
          return out;
        }
        case c10::TypeKind::OptionalType: {
          c10::List<c10::optional<at::Tensor>> out;
          for (auto& x : items) {
            if (x.IsNull() || x.IsUndefined()) out.push_back(c10::nullopt);
            else out.push_back(toTensor(env, x));
          }
          return out;
        }
        default:
          throw ConvError("unsupported list element type " + elem->str());
      }
    }
    default:
      throw ConvError("unsupported argument type " + type->str());
  }
}

// ---------------------------------------------------------------- IValue -> JS

Napi::Value fromIValue(Napi::Env env, const c10::IValue& v) {
  if (v.isTensor()) {
    const auto& t = v.toTensor();
    if (!t.defined()) return env.Null();
    return NTensor::Wrap(env, t);
  }
  if (v.isNone()) return env.Null();
  if (v.isInt()) return Napi::Number::New(env, double(v.toInt()));
  if (v.isDouble()) return Napi::Number::New(env, v.toDouble());
  if (v.isBool()) return Napi::Boolean::New(env, v.toBool());
  if (v.isString()) return Napi::String::New(env, v.toStringRef());
  if (v.isScalar()) return Napi::Number::New(env, v.toScalar().toDouble());
  if (v.isTensorList()) {
    auto l = v.toTensorList();
    auto a = Napi::Array::New(env, l.size());
    for (size_t i = 0; i < l.size(); i++) a[uint32_t(i)] = NTensor::Wrap(env, l.get(i));
    return a;
  }
  if (v.isIntList()) {
    auto l = v.toIntList();
    auto a = Napi::Array::New(env, l.size());
    for (size_t i = 0; i < l.size(); i++) a[uint32_t(i)] = Napi::Number::New(env, double(l.get(i)));
    return a;
  }
  if (v.isDoubleList()) {
    auto l = v.toDoubleList();
    auto a = Napi::Array::New(env, l.size());
    for (size_t i = 0; i < l.size(); i++) a[uint32_t(i)] = Napi::Number::New(env, l.get(i));
    return a;
  }
  if (v.isTuple()) {
    const auto& elems = v.toTupleRef().elements();
    auto a = Napi::Array::New(env, elems.size());
    for (size_t i = 0; i < elems.size(); i++) a[uint32_t(i)] = fromIValue(env, elems[i]);
    return a;
  }
  if (v.isList()) {
    auto l = v.toListRef();
    auto a = Napi::Array::New(env, l.size());
    for (size_t i = 0; i < l.size(); i++) a[uint32_t(i)] = fromIValue(env, l[i]);
    return a;
  }
  throw std::runtime_error("unsupported return type " + v.tagKind());
}

// ---------------------------------------------------------------- generic op call

std::unordered_map<std::string, c10::OperatorHandle>& opCache() {
  static std::unordered_map<std::string, c10::OperatorHandle> cache;
  return cache;
}

const c10::OperatorHandle& findOp(const std::string& name, const std::string& overload) {
  auto key = name + "." + overload;
  auto& cache = opCache();
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  auto op = c10::Dispatcher::singleton().findSchemaOrThrow(name.c_str(), overload.c_str());
  return cache.emplace(key, op).first->second;
}

std::string opLabel(const std::string& name, const std::string& overload) {
  return overload.empty() ? name : name + "." + overload;
}

// Describes the inputs of a failed call: "aten::conv2d(input: [64,1,28,28] float32, ...)".
std::string callDescription(const std::string& label, const c10::FunctionSchema* schema, const c10::Stack& stack) {
  std::ostringstream s;
  s << label << "(";
  for (size_t i = 0; i < stack.size(); i++) {
    if (i) s << ", ";
    if (schema && i < schema->arguments().size()) s << schema->arguments()[i].name() << ": ";
    const auto& v = stack[i];
    if (v.isTensor()) s << describe(v.toTensor());
    else if (v.isTensorList()) {
      s << "[";
      auto l = v.toTensorList();
      for (size_t j = 0; j < l.size(); j++) s << (j ? ", " : "") << describe(l.get(j));
      s << "]";
    } else if (v.isNone()) s << "None";
    else if (v.isIntList() || v.isInt() || v.isDouble() || v.isBool() || v.isScalar() || v.isString()) s << v;
    else s << v.tagKind();
  }
  s << ")";
  return s.str();
}

// call(name, overload, args[], kwargs?) -> result (single value, or array for several returns)
Napi::Value Call(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsString() || !info[2].IsArray())
    throw Napi::TypeError::New(env, "call(name: string, overload: string, args: unknown[], kwargs?: object)");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::string overload = info[1].As<Napi::String>().Utf8Value();
  std::string label = opLabel(name, overload);
  auto args = info[2].As<Napi::Array>();
  Napi::Object kwargs = info.Length() > 3 && info[3].IsObject() ? info[3].As<Napi::Object>() : Napi::Object();

  const c10::OperatorHandle* op;
  try {
    op = &findOp(name, overload);
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, "unknown operator " + label);
  }
  const auto& schema = op->schema();
  const auto& params = schema.arguments();
  if (args.Length() > params.size())
    throw Napi::Error::New(env, label + ": expected at most " + std::to_string(params.size()) + " arguments, got " +
                                    std::to_string(args.Length()));
  c10::Stack stack;
  stack.reserve(params.size());
  for (size_t i = 0; i < params.size(); i++) {
    const auto& p = params[i];
    Napi::Value v = env.Undefined();
    if (i < args.Length()) v = args.Get(uint32_t(i));
    if (v.IsUndefined() && !kwargs.IsEmpty() && kwargs.Has(p.name())) v = kwargs.Get(p.name());
    if (v.IsUndefined()) {
      if (p.default_value()) {
        stack.push_back(*p.default_value());
        continue;
      }
      if (p.type()->kind() != c10::TypeKind::OptionalType)
        throw Napi::Error::New(env, callDescription(label, &schema, stack) + ": missing argument '" + p.name() + "'");
    }
    try {
      stack.push_back(toIValue(env, v, p.type(), p.N()));
    } catch (const ConvError& e) {
      throw Napi::TypeError::New(env, label + ": argument '" + p.name() + "' (" + p.type()->str() + "): " + e.what());
    } catch (const std::invalid_argument& e) {
      throw Napi::TypeError::New(env, label + ": argument '" + p.name() + "': " + e.what());
    } catch (const c10::Error& e) {
      throw Napi::TypeError::New(env, label + ": argument '" + p.name() + "': " + e.what_without_backtrace());
    }
  }
  c10::Stack inputs = stack;  // callBoxed consumes the stack; keep the inputs for error messages
  try {
    op->callBoxed(&stack);
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, callDescription(label, &schema, inputs) + ": " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, callDescription(label, &schema, inputs) + ": " + e.what());
  }
  return guard(env, label, [&]() -> Napi::Value {
    if (stack.size() == 1) return fromIValue(env, stack[0]);
    auto out = Napi::Array::New(env, stack.size());
    for (size_t i = 0; i < stack.size(); i++) out[uint32_t(i)] = fromIValue(env, stack[i]);
    return out;
  });
}

// ---------------------------------------------------------------- other natives

// fromArray(typedArray, shape, dtype, device?) copies the data into a new tensor.
Napi::Value FromArray(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsArray() || !info[2].IsString())
    throw Napi::TypeError::New(env, "fromArray(data: TypedArray, shape: number[], dtype: string, device?: string)");
  auto data = info[0].As<Napi::TypedArray>();
  auto shapeArr = info[1].As<Napi::Array>();
  std::vector<int64_t> shape;
  for (uint32_t i = 0; i < shapeArr.Length(); i++) shape.push_back(toInt(shapeArr.Get(i)));
  std::string dt = info[2].As<Napi::String>().Utf8Value();
  return guard(env, "fromArray", [&]() -> Napi::Value {
    auto type = parseDtype(dt);
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(type));
    size_t bytes = size_t(t.numel()) * t.element_size();
    if (bytes != data.ByteLength())
      throw std::invalid_argument("data has " + std::to_string(data.ByteLength()) + " bytes, shape and dtype " + dt +
                                  " need " + std::to_string(bytes));
    if (bytes) std::memcpy(t.data_ptr(), static_cast<uint8_t*>(data.ArrayBuffer().Data()) + data.ByteOffset(), bytes);
    if (info.Length() > 3 && info[3].IsString()) {
      c10::Device dev(info[3].As<Napi::String>().Utf8Value());
      if (!dev.is_cpu()) t = t.to(dev);
    }
    return NTensor::Wrap(env, t);
  });
}

Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  bool prev = c10::GradMode::is_enabled();
  c10::GradMode::set_enabled(info[0].ToBoolean());
  return Napi::Boolean::New(info.Env(), prev);
}

Napi::Value IsGradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), c10::GradMode::is_enabled());
}

// setAutocast(deviceType, enabled, dtype) -> the previous enabled state.
Napi::Value SetAutocast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dev = info[0].As<Napi::String>().Utf8Value();
  bool enabled = info[1].ToBoolean();
  return guard(env, "setAutocast", [&]() -> Napi::Value {
    auto dtype = parseDtype(info.Length() > 2 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "bfloat16");
    if (dev != "cpu" && dev != "cuda") {
      throw std::invalid_argument("autocast supports 'cpu' and 'cuda', got '" + dev + "'");
    }
    bool prev;
#ifdef SEMIPOISON_DEVICE_TYPE_AUTOCAST
    const auto type = dev == "cpu" ? at::kCPU : at::kCUDA;
    prev = at::autocast::is_autocast_enabled(type);
    at::autocast::set_autocast_enabled(type, enabled);
    at::autocast::set_autocast_dtype(type, dtype);
#else
    if (dev == "cpu") {
      prev = at::autocast::is_cpu_enabled();
      at::autocast::set_cpu_enabled(enabled);
      at::autocast::set_autocast_cpu_dtype(dtype);
    } else {
      prev = at::autocast::is_enabled();
      at::autocast::set_enabled(enabled);
      at::autocast::set_autocast_gpu_dtype(dtype);
    }
#endif
    return Napi::Boolean::New(env, prev);
  });
}

// autocastNesting(+1 | -1): leaving the outermost autocast scope clears libtorch's cache of
// weights cast to the lower precision.
Napi::Value AutocastNesting(const Napi::CallbackInfo& info) {
  int depth;
  if (toInt(info[0]) > 0) {
    depth = at::autocast::increment_nesting();
  } else {
    depth = at::autocast::decrement_nesting();
    if (depth == 0) at::autocast::clear_cache();
  }
  return Napi::Number::New(info.Env(), depth);
}

Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  uint64_t seed = uint64_t(toInt(info[0]));
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(seed);
  }
  torch::cuda::manual_seed_all(seed);  // every CUDA device's generator; nothing without CUDA
  return info.Env().Undefined();
}

// The CPU generator's full state as a uint8 tensor, for bit-exact resume.
Napi::Value GetRngState(const Napi::CallbackInfo& info) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return NTensor::Wrap(info.Env(), gen.get_state());
}

Napi::Value SetRngState(const Napi::CallbackInfo& info) {
  if (!NTensor::Is(info[0])) throw Napi::TypeError::New(info.Env(), "setRngState expects a uint8 tensor");
  const auto& s = NTensor::Unwrap(info[0].As<Napi::Object>())->get(info.Env());
  return guard(info.Env(), "setRngState", [&]() -> Napi::Value {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(s);
    return info.Env().Undefined();
  });
}

// libtorch's dense products on the CPU (addmm, matmul, linear layers) go to the BLAS it links. MKL
// follows at::set_num_threads, but OpenBLAS (Debian's libtorch) keeps its own pthread pool sized to
// the machine, so a process asked for one thread still ran its GEMMs on every core. Debian loads
// OpenBLAS twice (libopenblas.so.0 and the libblas.so.3 alternative built from it), each with its
// own pool; both are set. Returns OpenBLAS's thread count, or -1 where no OpenBLAS is loaded.
using BlasThreadsFn = void (*)(int);
using BlasGetThreadsFn = int (*)();
static int blasThreads(int set) {
  int count = -1;
  for (const char* lib : {"libopenblas.so.0", "libblas.so.3"}) {
    void* handle = dlopen(lib, RTLD_LAZY | RTLD_NOLOAD);
    if (!handle) continue;
    if (set > 0) {
      if (auto f = reinterpret_cast<BlasThreadsFn>(dlsym(handle, "openblas_set_num_threads"))) f(set);
    }
    if (auto g = reinterpret_cast<BlasGetThreadsFn>(dlsym(handle, "openblas_get_num_threads"))) {
      int n = g();
      count = count < 0 ? n : std::max(count, n);
    }
    dlclose(handle);
  }
  return count;
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  int64_t n = toInt(info[0]);
  if (n < 1) throw Napi::RangeError::New(info.Env(), "thread count must be >= 1");
  at::set_num_threads(int(n));
  blasThreads(int(n));
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

Napi::Value GetBlasThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), blasThreads(0));
}

// Denormal floats slow CPU kernels by an order of magnitude in early training; flushing them to
// zero is what torch.set_flush_denormal(True) does. Returns whether the CPU supports it.
Napi::Value SetFlushDenormal(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), at::globalContext().setFlushDenormal(info[0].ToBoolean()));
}

Napi::Value LiveCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(g_live.load()));
}

Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(torch::cuda::device_count()));
}

std::vector<at::Tensor> tensorArray(Napi::Env env, const Napi::Value& v, const char* what) {
  std::vector<at::Tensor> out;
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(what) + " must be an array of tensors");
  auto a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value x = a.Get(i);
    if (!NTensor::Is(x)) throw Napi::TypeError::New(env, std::string(what) + " must be an array of tensors");
    out.push_back(NTensor::Unwrap(x.As<Napi::Object>())->get(env));
  }
  return out;
}

// grad(outputs, inputs, gradOutputs?, retainGraph, createGraph) -> gradients (null where unused)
Napi::Value Grad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto outputs = tensorArray(env, info[0], "outputs");
  auto inputs = tensorArray(env, info[1], "inputs");
  std::vector<at::Tensor> gradOutputs;
  if (info.Length() > 2 && info[2].IsArray()) gradOutputs = tensorArray(env, info[2], "gradOutputs");
  bool retain = info.Length() > 3 && info[3].ToBoolean();
  bool create = info.Length() > 4 && info[4].ToBoolean();
  return guard(env, "grad", [&]() -> Napi::Value {
    auto gs = torch::autograd::grad(outputs, inputs, gradOutputs, retain || create, create, true);
    auto a = Napi::Array::New(env, gs.size());
    for (size_t i = 0; i < gs.size(); i++) a[uint32_t(i)] = gs[i].defined() ? Napi::Value(NTensor::Wrap(env, gs[i])) : env.Null();
    return a;
  });
}

// schema(name, overload) -> the operator's schema string, for error messages and debugging.
Napi::Value Schema(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::string overload = info.Length() > 1 ? info[1].As<Napi::String>().Utf8Value() : "";
  return guard(env, "schema", [&]() -> Napi::Value {
    std::ostringstream s;
    s << findOp(name, overload).schema();
    return Napi::String::New(env, s.str());
  });
}

Napi::Value Version(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
                                              std::to_string(TORCH_VERSION_PATCH));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  NTensor::Init(env, exports);
  exports.Set("call", Napi::Function::New(env, Call));
  exports.Set("fromArray", Napi::Function::New(env, FromArray));
  exports.Set("setGradEnabled", Napi::Function::New(env, SetGradEnabled));
  exports.Set("isGradEnabled", Napi::Function::New(env, IsGradEnabled));
  exports.Set("setAutocast", Napi::Function::New(env, SetAutocast));
  exports.Set("autocastNesting", Napi::Function::New(env, AutocastNesting));
  exports.Set("manualSeed", Napi::Function::New(env, ManualSeed));
  exports.Set("getRngState", Napi::Function::New(env, GetRngState));
  exports.Set("setRngState", Napi::Function::New(env, SetRngState));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads));
  exports.Set("getBlasThreads", Napi::Function::New(env, GetBlasThreads));
  exports.Set("setFlushDenormal", Napi::Function::New(env, SetFlushDenormal));
  exports.Set("liveCount", Napi::Function::New(env, LiveCount));
  exports.Set("cudaDeviceCount", Napi::Function::New(env, CudaDeviceCount));
  exports.Set("grad", Napi::Function::New(env, Grad));
  exports.Set("schema", Napi::Function::New(env, Schema));
  exports.Set("version", Napi::Function::New(env, Version));
  return exports;
}

}  // namespace

NODE_API_MODULE(semipoison_native, Init)
