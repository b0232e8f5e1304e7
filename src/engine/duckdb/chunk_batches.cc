// DuckDB result chunks to Arrow record batches for the common column types.
//
// DuckDB's own Arrow export (ArrowAppender) converts value by value through a
// selection vector and grows each buffer as it appends, which for strings
// means one reallocation check per value. Here a batch's chunks are gathered
// first, so every buffer is allocated once at its exact size, and each column
// is copied in one pass: fixed-width values with memcpy, strings with one
// memcpy each. Types this does not know go through DuckDB's export instead.
#include <cstring>
#include <limits>

#include <arrow/array/data.h>
#include <arrow/buffer.h>
#include <arrow/util/bit_util.h>
#include <arrow/util/bitmap_generate.h>
#include <arrow/util/bitmap_ops.h>

#include "engine/duckdb/duckdb_internal.h"

namespace squadron::engine {

namespace {

using duckdb::LogicalTypeId;
using duckdb::PhysicalType;

// DuckDB types whose vectors hold the values exactly as the Arrow type
// DuckDB's export gives them: copied with memcpy.
struct SameLayout {
  LogicalTypeId duckdb;
  arrow::Type::type arrow;
};
constexpr SameLayout kSameLayout[] = {
    {LogicalTypeId::TINYINT, arrow::Type::INT8},     {LogicalTypeId::SMALLINT, arrow::Type::INT16},
    {LogicalTypeId::INTEGER, arrow::Type::INT32},    {LogicalTypeId::BIGINT, arrow::Type::INT64},
    {LogicalTypeId::UTINYINT, arrow::Type::UINT8},   {LogicalTypeId::USMALLINT, arrow::Type::UINT16},
    {LogicalTypeId::UINTEGER, arrow::Type::UINT32},  {LogicalTypeId::UBIGINT, arrow::Type::UINT64},
    {LogicalTypeId::FLOAT, arrow::Type::FLOAT},      {LogicalTypeId::DOUBLE, arrow::Type::DOUBLE},
    {LogicalTypeId::DATE, arrow::Type::DATE32},
};

// DuckDB's 64-bit time types and the unit of the Arrow type that matches them.
struct TimeLayout {
  LogicalTypeId duckdb;
  arrow::Type::type arrow;
  arrow::TimeUnit::type unit;
};
constexpr TimeLayout kTimeLayout[] = {
    {LogicalTypeId::TIME, arrow::Type::TIME64, arrow::TimeUnit::MICRO},
    {LogicalTypeId::TIMESTAMP, arrow::Type::TIMESTAMP, arrow::TimeUnit::MICRO},
    {LogicalTypeId::TIMESTAMP_TZ, arrow::Type::TIMESTAMP, arrow::TimeUnit::MICRO},
    {LogicalTypeId::TIMESTAMP_MS, arrow::Type::TIMESTAMP, arrow::TimeUnit::MILLI},
    {LogicalTypeId::TIMESTAMP_SEC, arrow::Type::TIMESTAMP, arrow::TimeUnit::SECOND},
    {LogicalTypeId::TIMESTAMP_NS, arrow::Type::TIMESTAMP, arrow::TimeUnit::NANO},
};

std::optional<arrow::TimeUnit::type> UnitOf(const arrow::DataType& type) {
  if (type.id() == arrow::Type::TIME64) return static_cast<const arrow::Time64Type&>(type).unit();
  if (type.id() == arrow::Type::TIMESTAMP) return static_cast<const arrow::TimestampType&>(type).unit();
  return std::nullopt;
}

// How to copy a column of `type`, when this converter produces the values
// DuckDB's export gives `arrow_type` (the type that export chose for it).
std::optional<ChunkColumnKind> KindFor(const duckdb::LogicalType& type, const arrow::DataType& arrow_type) {
  const auto id = arrow_type.id();
  for (const auto& same : kSameLayout) {
    if (type.id() == same.duckdb) {
      if (id == same.arrow) return ChunkColumnKind::kFixed;
      return std::nullopt;
    }
  }
  for (const auto& time : kTimeLayout) {
    if (type.id() != time.duckdb) continue;
    if (id == time.arrow && UnitOf(arrow_type) == time.unit) return ChunkColumnKind::kFixed;
    return std::nullopt;
  }
  switch (type.id()) {
    case LogicalTypeId::BOOLEAN:
      if (id == arrow::Type::BOOL) return ChunkColumnKind::kBoolean;
      break;
    case LogicalTypeId::DECIMAL:
      if (id == arrow::Type::DECIMAL128) return ChunkColumnKind::kDecimal128;
      break;
    case LogicalTypeId::VARCHAR:
    case LogicalTypeId::BLOB:
      if (id == arrow::Type::STRING || id == arrow::Type::BINARY) return ChunkColumnKind::kString;
      if (id == arrow::Type::LARGE_STRING || id == arrow::Type::LARGE_BINARY) return ChunkColumnKind::kLargeString;
      break;
    default:
      break;
  }
  return std::nullopt;
}

const uint8_t* ValidityBits(const duckdb::ValidityMask& mask) {
  return reinterpret_cast<const uint8_t*>(mask.GetData());
}

// DuckDB keeps validity as 64-bit words with row i at bit i % 64 of word
// i / 64, which on a little-endian machine is Arrow's LSB-first bitmap.
static_assert(sizeof(duckdb::validity_t) == 8, "DuckDB validity words are 64 bits");

// The bytes DuckDB keeps inside a string_t for a short string.
constexpr duckdb::idx_t kInline = duckdb::string_t::INLINE_LENGTH;
static_assert(kInline == 12, "DuckDB inlines strings of up to 12 bytes");

// Copies a string's bytes to `out` and returns its size. Most strings of a
// table are short: the whole inline part is copied with a fixed-size copy, a
// couple of moves where a memcpy of `size` bytes is a call, so `out` must
// have kInline bytes of room whatever the size.
inline uint32_t CopyString(const duckdb::string_t& value, uint8_t* out) {
  const uint32_t size = value.GetSize();
  if (size <= kInline) {
    std::memcpy(out, value.GetPrefix(), kInline);
  } else {
    std::memcpy(out, value.GetData(), size);
  }
  return size;
}

template <typename Offset>
arrow::Status FillStrings(const std::vector<ChunkSlice>& slices, size_t column, int64_t rows, int64_t bytes,
                          arrow::MemoryPool* pool, std::shared_ptr<arrow::Buffer>* offsets_out,
                          std::shared_ptr<arrow::Buffer>* data_out) {
  ARROW_ASSIGN_OR_RAISE(auto offsets, arrow::AllocateBuffer((rows + 1) * sizeof(Offset), pool));
  ARROW_ASSIGN_OR_RAISE(auto data, arrow::AllocateResizableBuffer(bytes + kInline, pool));  // CopyString's room
  auto* out_offsets = reinterpret_cast<Offset*>(offsets->mutable_data());
  uint8_t* out = data->mutable_data();
  Offset position = 0;
  int64_t row = 0;
  out_offsets[0] = 0;
  for (const auto& slice : slices) {
    auto& vector = slice.chunk->data[column];
    const auto* values = duckdb::FlatVector::GetData<duckdb::string_t>(vector);
    const auto& validity = duckdb::FlatVector::Validity(vector);
    const bool all_valid = validity.AllValid();
    for (duckdb::idx_t i = slice.offset; i < slice.offset + slice.count; ++i) {
      if (all_valid || validity.RowIsValid(i)) position += static_cast<Offset>(CopyString(values[i], out + position));
      out_offsets[++row] = position;
    }
  }
  ARROW_RETURN_NOT_OK(data->Resize(bytes, /*shrink_to_fit=*/false));
  *offsets_out = std::move(offsets);
  *data_out = std::move(data);
  return arrow::Status::OK();
}

// Writes each value of a decimal stored as T as a 128-bit little-endian
// two's complement integer.
template <typename T>
void WidenDecimals(const T* values, duckdb::idx_t count, uint64_t* out) {
  for (duckdb::idx_t i = 0; i < count; ++i) {
    const int64_t low = static_cast<int64_t>(values[i]);
    *out++ = static_cast<uint64_t>(low);
    *out++ = low < 0 ? ~uint64_t{0} : 0;
  }
}

// Writes rows [offset, offset + count) of a flat DECIMAL vector, whatever
// its physical width, as Arrow decimal128 values at `out`.
void WriteDecimal128(PhysicalType physical, const duckdb::Vector& vector, duckdb::idx_t offset, duckdb::idx_t count,
                     uint64_t* out) {
  switch (physical) {
    case PhysicalType::INT16:
      return WidenDecimals(duckdb::FlatVector::GetData<int16_t>(vector) + offset, count, out);
    case PhysicalType::INT32:
      return WidenDecimals(duckdb::FlatVector::GetData<int32_t>(vector) + offset, count, out);
    case PhysicalType::INT64:
      return WidenDecimals(duckdb::FlatVector::GetData<int64_t>(vector) + offset, count, out);
    default:  // INT128: DuckDB's hugeint_t is {lower, upper}, Arrow's layout
      std::memcpy(out, duckdb::FlatVector::GetData<duckdb::hugeint_t>(vector) + offset, count * 16);
      return;
  }
}

}  // namespace

std::optional<ChunkBatchBuilder> ChunkBatchBuilder::Make(const duckdb::vector<duckdb::LogicalType>& types,
                                                         std::shared_ptr<arrow::Schema> schema) {
  if (static_cast<int>(types.size()) != schema->num_fields()) return std::nullopt;
  std::vector<Column> columns;
  for (size_t i = 0; i < types.size(); ++i) {
    const auto kind = KindFor(types[i], *schema->field(static_cast<int>(i))->type());
    if (!kind) return std::nullopt;
    Column column;
    column.kind = *kind;
    column.physical = types[i].InternalType();
    column.width = static_cast<int64_t>(duckdb::GetTypeIdSize(column.physical));
    if (*kind == ChunkColumnKind::kDecimal128) {
      switch (column.physical) {
        case PhysicalType::INT16:
        case PhysicalType::INT32:
        case PhysicalType::INT64:
        case PhysicalType::INT128:
          break;
        default:
          return std::nullopt;
      }
    }
    columns.push_back(column);
  }
  return ChunkBatchBuilder(std::move(schema), std::move(columns));
}

ChunkBatchBuilder::ChunkBatchBuilder(std::shared_ptr<arrow::Schema> schema, std::vector<Column> columns)
    : schema_(std::move(schema)), columns_(std::move(columns)) {
  for (const auto& column : columns_) {
    switch (column.kind) {
      case ChunkColumnKind::kFixed:
        fixed_row_bytes_ += column.width;
        break;
      case ChunkColumnKind::kDecimal128:
        fixed_row_bytes_ += 16;
        break;
      case ChunkColumnKind::kBoolean:
        fixed_row_bytes_ += 1;  // an eighth, rounded up: only a budget
        break;
      case ChunkColumnKind::kString:
        fixed_row_bytes_ += sizeof(int32_t);
        break;
      case ChunkColumnKind::kLargeString:
        fixed_row_bytes_ += sizeof(int64_t);
        break;
    }
  }
  for (size_t c = 0; c < columns_.size(); ++c) {
    const auto kind = columns_[c].kind;
    if (kind == ChunkColumnKind::kString || kind == ChunkColumnKind::kLargeString) string_columns_.push_back(c);
  }
  string_bytes_.assign(columns_.size(), 0);
  null_counts_.assign(columns_.size(), 0);
  added_.assign(columns_.size(), 0);
  row_sizes_.assign(columns_.size(), 0);
}

duckdb::idx_t ChunkBatchBuilder::Add(const std::shared_ptr<duckdb::DataChunk>& chunk, duckdb::idx_t offset,
                                     duckdb::idx_t count, int64_t byte_budget) {
  if (count == 0) return 0;
  duckdb::idx_t take = 0;
  std::fill(added_.begin(), added_.end(), 0);
  if (string_columns_.empty()) {
    // At least one row, so that every batch makes progress.
    const int64_t fit = byte_budget / std::max<int64_t>(1, fixed_row_bytes_);
    take = static_cast<duckdb::idx_t>(std::clamp<int64_t>(fit, rows_ == 0 ? 1 : 0, static_cast<int64_t>(count)));
  } else if (FitsWhole(*chunk, offset, count, byte_budget)) {
    take = count;  // added_ holds each column's string bytes
  } else {
    // Counts the rows' bytes up to the budget; a column with 32-bit offsets
    // must also stay within their range.
    std::fill(added_.begin(), added_.end(), 0);
    int64_t spent = 0;
    for (; take < count; ++take) {
      const duckdb::idx_t i = offset + take;
      int64_t row_bytes = fixed_row_bytes_;
      bool fits = true;
      for (size_t c : string_columns_) {
        auto& vector = chunk->data[c];
        row_sizes_[c] = duckdb::FlatVector::Validity(vector).RowIsValid(i)
                            ? static_cast<int64_t>(duckdb::FlatVector::GetData<duckdb::string_t>(vector)[i].GetSize())
                            : 0;
        row_bytes += row_sizes_[c];
        if (columns_[c].kind == ChunkColumnKind::kString &&
            string_bytes_[c] + added_[c] + row_sizes_[c] > std::numeric_limits<int32_t>::max()) {
          fits = false;
        }
      }
      const bool first_row = rows_ == 0 && take == 0;
      if (!fits && first_row) {
        oversized_ = true;  // one value beyond 2 GiB: Finish reports it
        take = 1;
        break;
      }
      if (!fits || (!first_row && spent + row_bytes > byte_budget)) break;
      spent += row_bytes;
      for (size_t c : string_columns_) added_[c] += row_sizes_[c];
    }
  }
  if (take == 0) return 0;
  for (size_t c = 0; c < columns_.size(); ++c) {
    string_bytes_[c] += added_[c];
    bytes_ += added_[c];
    const auto& validity = duckdb::FlatVector::Validity(chunk->data[c]);
    if (!validity.AllValid()) {
      null_counts_[c] += static_cast<int64_t>(take) -
                         arrow::internal::CountSetBits(ValidityBits(validity), static_cast<int64_t>(offset),
                                                       static_cast<int64_t>(take));
    }
  }
  slices_.push_back({chunk, offset, take});
  rows_ += static_cast<int64_t>(take);
  bytes_ += fixed_row_bytes_ * static_cast<int64_t>(take);
  return take;
}

bool ChunkBatchBuilder::FitsWhole(duckdb::DataChunk& chunk, duckdb::idx_t offset, duckdb::idx_t count,
                                  int64_t byte_budget) {
  int64_t total = fixed_row_bytes_ * static_cast<int64_t>(count);
  for (size_t c : string_columns_) {
    auto& vector = chunk.data[c];
    const auto* values = duckdb::FlatVector::GetData<duckdb::string_t>(vector) + offset;
    const auto& validity = duckdb::FlatVector::Validity(vector);
    int64_t bytes = 0;
    if (validity.AllValid()) {
      for (duckdb::idx_t i = 0; i < count; ++i) bytes += values[i].GetSize();
    } else {
      for (duckdb::idx_t i = 0; i < count; ++i) {
        if (validity.RowIsValid(offset + i)) bytes += values[i].GetSize();
      }
    }
    added_[c] = bytes;
    total += bytes;
    if (columns_[c].kind == ChunkColumnKind::kString &&
        string_bytes_[c] + bytes > std::numeric_limits<int32_t>::max()) {
      return false;
    }
  }
  return rows_ == 0 && count == 1 ? true : total <= byte_budget;
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> ChunkBatchBuilder::Finish(arrow::MemoryPool* pool) {
  if (oversized_) {
    return arrow::Status::CapacityError("A string value is larger than Arrow's 2 GiB limit for one value");
  }
  std::vector<std::shared_ptr<arrow::ArrayData>> arrays;
  arrays.reserve(columns_.size());
  for (size_t c = 0; c < columns_.size(); ++c) {
    ARROW_ASSIGN_OR_RAISE(auto array, FinishColumn(c, pool));
    arrays.push_back(std::move(array));
  }
  auto batch = arrow::RecordBatch::Make(schema_, rows_, std::move(arrays));
  slices_.clear();
  rows_ = 0;
  bytes_ = 0;
  std::fill(string_bytes_.begin(), string_bytes_.end(), 0);
  std::fill(null_counts_.begin(), null_counts_.end(), 0);
  return batch;
}

arrow::Result<std::shared_ptr<arrow::ArrayData>> ChunkBatchBuilder::FinishColumn(size_t c, arrow::MemoryPool* pool) {
  const Column& column = columns_[c];
  const int64_t null_count = null_counts_[c];
  std::shared_ptr<arrow::Buffer> validity;
  if (null_count > 0) {
    ARROW_ASSIGN_OR_RAISE(validity, arrow::AllocateBitmap(rows_, pool));
    int64_t position = 0;
    for (const auto& slice : slices_) {
      const auto& mask = duckdb::FlatVector::Validity(slice.chunk->data[c]);
      const auto count = static_cast<int64_t>(slice.count);
      if (mask.AllValid()) {
        arrow::bit_util::SetBitsTo(validity->mutable_data(), position, count, true);
      } else {
        arrow::internal::CopyBitmap(ValidityBits(mask), static_cast<int64_t>(slice.offset), count,
                                    validity->mutable_data(), position);
      }
      position += count;
    }
  }
  const auto& type = schema_->field(static_cast<int>(c))->type();
  switch (column.kind) {
    case ChunkColumnKind::kFixed: {
      ARROW_ASSIGN_OR_RAISE(auto data, arrow::AllocateBuffer(rows_ * column.width, pool));
      uint8_t* out = data->mutable_data();
      for (const auto& slice : slices_) {
        const auto* in = duckdb::FlatVector::GetData(slice.chunk->data[c]);
        const int64_t size = static_cast<int64_t>(slice.count) * column.width;
        std::memcpy(out, in + static_cast<int64_t>(slice.offset) * column.width, size);
        out += size;
      }
      return arrow::ArrayData::Make(type, rows_, {std::move(validity), std::move(data)}, null_count);
    }
    case ChunkColumnKind::kBoolean: {
      ARROW_ASSIGN_OR_RAISE(auto data, arrow::AllocateBitmap(rows_, pool));
      int64_t position = 0;
      for (const auto& slice : slices_) {
        const auto* in = duckdb::FlatVector::GetData<bool>(slice.chunk->data[c]) + slice.offset;
        arrow::internal::GenerateBitsUnrolled(data->mutable_data(), position, static_cast<int64_t>(slice.count),
                                              [&in] { return *in++; });
        position += static_cast<int64_t>(slice.count);
      }
      return arrow::ArrayData::Make(type, rows_, {std::move(validity), std::move(data)}, null_count);
    }
    case ChunkColumnKind::kDecimal128: {
      ARROW_ASSIGN_OR_RAISE(auto data, arrow::AllocateBuffer(rows_ * 16, pool));
      auto* out = reinterpret_cast<uint64_t*>(data->mutable_data());
      for (const auto& slice : slices_) {
        WriteDecimal128(column.physical, slice.chunk->data[c], slice.offset, slice.count, out);
        out += slice.count * 2;
      }
      return arrow::ArrayData::Make(type, rows_, {std::move(validity), std::move(data)}, null_count);
    }
    case ChunkColumnKind::kString:
    case ChunkColumnKind::kLargeString: {
      std::shared_ptr<arrow::Buffer> offsets, data;
      if (column.kind == ChunkColumnKind::kString) {
        ARROW_RETURN_NOT_OK(FillStrings<int32_t>(slices_, c, rows_, string_bytes_[c], pool, &offsets, &data));
      } else {
        ARROW_RETURN_NOT_OK(FillStrings<int64_t>(slices_, c, rows_, string_bytes_[c], pool, &offsets, &data));
      }
      return arrow::ArrayData::Make(type, rows_, {std::move(validity), std::move(offsets), std::move(data)},
                                    null_count);
    }
  }
  return arrow::Status::NotImplemented("column kind");
}

// --- ByteBuilder -------------------------------------------------------------

arrow::Status ByteBuilder::Grow(int64_t needed) {
  const int64_t capacity = std::max(needed, capacity_ * 2);
  if (buffer_ == nullptr) {
    ARROW_ASSIGN_OR_RAISE(auto buffer, arrow::AllocateResizableBuffer(capacity));
    buffer_ = std::move(buffer);
  } else {
    ARROW_RETURN_NOT_OK(buffer_->Resize(capacity, /*shrink_to_fit=*/false));
  }
  data_ = buffer_->mutable_data();
  capacity_ = buffer_->size();
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<arrow::Buffer>> ByteBuilder::Finish() {
  if (buffer_ == nullptr) return arrow::AllocateBuffer(0);
  ARROW_RETURN_NOT_OK(buffer_->Resize(size_, /*shrink_to_fit=*/false));  // keeps the capacity
  std::shared_ptr<arrow::Buffer> out = std::move(buffer_);
  buffer_ = nullptr;
  data_ = nullptr;
  size_ = capacity_ = 0;
  return out;
}

// --- ChunkBatchAppender ------------------------------------------------------

namespace {

// Appends the offsets and bytes of `count` strings to a batch holding
// `*position` bytes so far.
template <typename Offset>
arrow::Status AppendStrings(const duckdb::Vector& vector, int64_t offset, int64_t count, int64_t total,
                            int64_t* position,
                            ByteBuilder* offsets, ByteBuilder* data) {
  const auto* values = duckdb::FlatVector::GetData<duckdb::string_t>(vector);
  const auto& validity = duckdb::FlatVector::Validity(vector);
  const bool all_valid = validity.AllValid();
  ARROW_RETURN_NOT_OK(offsets->Reserve(count * static_cast<int64_t>(sizeof(Offset))));
  ARROW_RETURN_NOT_OK(data->Reserve(total + kInline));  // CopyString's room
  auto* out_offsets = reinterpret_cast<Offset*>(offsets->mutable_data() + offsets->length());
  uint8_t* out = data->mutable_data() + data->length();
  Offset at = static_cast<Offset>(*position);
  for (int64_t i = 0; i < count; ++i) {
    const int64_t row = offset + i;
    if (all_valid || validity.RowIsValid(static_cast<duckdb::idx_t>(row))) {
      const uint32_t size = CopyString(values[row], out);
      out += size;
      at += static_cast<Offset>(size);
    }
    out_offsets[i] = at;
  }
  offsets->UnsafeAdvance(count * static_cast<int64_t>(sizeof(Offset)));
  data->UnsafeAdvance(total);
  *position += total;
  return arrow::Status::OK();
}

}  // namespace

std::optional<ChunkBatchAppender> ChunkBatchAppender::Make(const duckdb::vector<duckdb::LogicalType>& types,
                                                           std::shared_ptr<arrow::Schema> schema) {
  auto builder = ChunkBatchBuilder::Make(types, schema);  // the same types, checked once
  if (!builder) return std::nullopt;
  ChunkBatchAppender appender(std::move(schema));
  appender.columns_.resize(types.size());
  for (size_t i = 0; i < types.size(); ++i) {
    auto& column = appender.columns_[i];
    column.kind = *KindFor(types[i], *appender.schema_->field(static_cast<int>(i))->type());
    column.physical = types[i].InternalType();
    column.width = static_cast<int64_t>(duckdb::GetTypeIdSize(column.physical));
  }
  return appender;
}

arrow::Status ChunkBatchAppender::Append(duckdb::DataChunk& chunk, int64_t offset, int64_t count,
                                         int64_t expected_rows) {
  if (count <= 0) return arrow::Status::OK();
  for (size_t c = 0; c < columns_.size(); ++c) {
    ARROW_RETURN_NOT_OK(
        AppendColumn(columns_[c], chunk.data[c], offset, count, std::max(expected_rows, rows_ + count)));
  }
  rows_ += count;
  return arrow::Status::OK();
}

arrow::Status ChunkBatchAppender::AppendColumn(Column& column, duckdb::Vector& vector, int64_t offset,
                                               int64_t count, int64_t expected_rows) {
  const auto& mask = duckdb::FlatVector::Validity(vector);
  if (!mask.AllValid()) {
    if (column.validity == nullptr) {
      // The first null of the batch: the rows before it were all valid.
      column.validity = std::make_unique<arrow::TypedBufferBuilder<bool>>();
      ARROW_RETURN_NOT_OK(column.validity->Reserve(expected_rows));
      column.validity->UnsafeAppend(rows_, true);
    }
    ARROW_RETURN_NOT_OK(column.validity->Reserve(count));
    column.validity->UnsafeAppend(ValidityBits(mask), offset, count);
    column.null_count += count - arrow::internal::CountSetBits(ValidityBits(mask), offset, count);
  } else if (column.validity != nullptr) {
    ARROW_RETURN_NOT_OK(column.validity->Append(count, true));
  }
  const bool empty = rows_ == 0;
  switch (column.kind) {
    case ChunkColumnKind::kFixed: {
      if (empty) ARROW_RETURN_NOT_OK(column.data.Reserve(expected_rows * column.width));
      const int64_t size = count * column.width;
      ARROW_RETURN_NOT_OK(column.data.Append(duckdb::FlatVector::GetData(vector) + offset * column.width, size));
      bytes_ += size;
      return arrow::Status::OK();
    }
    case ChunkColumnKind::kBoolean: {
      if (empty) ARROW_RETURN_NOT_OK(column.bits.Reserve(expected_rows));
      ARROW_RETURN_NOT_OK(
          column.bits.Append(reinterpret_cast<const uint8_t*>(duckdb::FlatVector::GetData<bool>(vector) + offset), count));
      bytes_ += (count + 7) / 8;
      return arrow::Status::OK();
    }
    case ChunkColumnKind::kDecimal128: {
      ARROW_RETURN_NOT_OK(column.data.Reserve(std::max(count, empty ? expected_rows : 0) * 16));
      auto* out = reinterpret_cast<uint64_t*>(column.data.mutable_data() + column.data.length());
      WriteDecimal128(column.physical, vector, static_cast<duckdb::idx_t>(offset), static_cast<duckdb::idx_t>(count), out);
      column.data.UnsafeAdvance(count * 16);
      bytes_ += count * 16;
      return arrow::Status::OK();
    }
    case ChunkColumnKind::kString:
    case ChunkColumnKind::kLargeString: {
      const auto* values = duckdb::FlatVector::GetData<duckdb::string_t>(vector);
      int64_t total = 0;
      if (mask.AllValid()) {
        for (int64_t i = offset; i < offset + count; ++i) total += values[i].GetSize();
      } else {
        for (int64_t i = offset; i < offset + count; ++i) {
          if (mask.RowIsValid(static_cast<duckdb::idx_t>(i))) total += values[i].GetSize();
        }
      }
      const bool narrow = column.kind == ChunkColumnKind::kString;
      if (narrow && column.string_bytes + total > std::numeric_limits<int32_t>::max()) {
        return arrow::Status::CapacityError("A batch's strings outgrow Arrow's 2 GiB limit for one column");
      }
      const int64_t offset_width = narrow ? 4 : 8;
      if (empty) {
        // Room for the expected rows at this chunk's mean length and a
        // quarter more, so that a batch whose later strings run longer is
        // not copied to grow; and the leading zero offset.
        ARROW_RETURN_NOT_OK(column.offsets.Reserve((expected_rows + 1) * offset_width));
        ARROW_RETURN_NOT_OK(column.data.Reserve(total * expected_rows / count * 5 / 4 + kInline));
        const int64_t zero = 0;
        column.offsets.UnsafeAppend(&zero, offset_width);
      }
      if (narrow) {
        ARROW_RETURN_NOT_OK(
            AppendStrings<int32_t>(vector, offset, count, total, &column.string_bytes, &column.offsets, &column.data));
      } else {
        ARROW_RETURN_NOT_OK(
            AppendStrings<int64_t>(vector, offset, count, total, &column.string_bytes, &column.offsets, &column.data));
      }
      bytes_ += total + count * offset_width;
      return arrow::Status::OK();
    }
  }
  return arrow::Status::NotImplemented("column kind");
}

// Buffers are handed over at their size but keep their reserved capacity;
// the data and offset buffers' unused part is not zero-filled (ByteBuilder),
// the small validity and BOOLEAN bitmaps' is. Shrinking them instead (shrink_to_fit)
// held far more memory: in the 20 s soak, peak RSS 557-572 MiB against
// 371-379 MiB, and 457-499 MiB against 300-316 MiB ten seconds after the load
// (2026-12-04). So the reservations are kept close: exact for fixed-width
// columns, a quarter over for string bytes.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> ChunkBatchAppender::Finish() {
  std::vector<std::shared_ptr<arrow::ArrayData>> arrays;
  arrays.reserve(columns_.size());
  for (size_t c = 0; c < columns_.size(); ++c) {
    auto& column = columns_[c];
    const auto& type = schema_->field(static_cast<int>(c))->type();
    std::shared_ptr<arrow::Buffer> validity;
    if (column.validity != nullptr) {
      ARROW_RETURN_NOT_OK(column.validity->Finish(&validity, /*shrink_to_fit=*/false));
      column.validity.reset();
    }
    const int64_t null_count = column.null_count;
    column.null_count = 0;
    std::shared_ptr<arrow::Buffer> data;
    switch (column.kind) {
      case ChunkColumnKind::kBoolean:
        ARROW_RETURN_NOT_OK(column.bits.Finish(&data, /*shrink_to_fit=*/false));
        arrays.push_back(arrow::ArrayData::Make(type, rows_, {std::move(validity), std::move(data)}, null_count));
        break;
      case ChunkColumnKind::kString:
      case ChunkColumnKind::kLargeString: {
        std::shared_ptr<arrow::Buffer> offsets;
        if (rows_ == 0) {
          const int64_t zero = 0;
          ARROW_RETURN_NOT_OK(column.offsets.Append(&zero, column.kind == ChunkColumnKind::kString ? 4 : 8));
        }
        ARROW_ASSIGN_OR_RAISE(offsets, column.offsets.Finish());
        ARROW_ASSIGN_OR_RAISE(data, column.data.Finish());
        column.string_bytes = 0;
        arrays.push_back(arrow::ArrayData::Make(type, rows_, {std::move(validity), std::move(offsets), std::move(data)},
                                                null_count));
        break;
      }
      default:
        ARROW_ASSIGN_OR_RAISE(data, column.data.Finish());
        arrays.push_back(arrow::ArrayData::Make(type, rows_, {std::move(validity), std::move(data)}, null_count));
        break;
    }
  }
  auto batch = arrow::RecordBatch::Make(schema_, rows_, std::move(arrays));
  rows_ = 0;
  bytes_ = 0;
  return batch;
}

}  // namespace squadron::engine
