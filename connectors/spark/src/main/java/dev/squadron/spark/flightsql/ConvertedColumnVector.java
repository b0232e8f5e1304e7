package dev.squadron.spark.flightsql;

import java.math.BigDecimal;
import java.math.BigInteger;

import org.apache.arrow.vector.DateMilliVector;
import org.apache.arrow.vector.Decimal256Vector;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.FixedSizeBinaryVector;
import org.apache.arrow.vector.Float2Vector;
import org.apache.arrow.vector.TimeMicroVector;
import org.apache.arrow.vector.TimeMilliVector;
import org.apache.arrow.vector.TimeSecVector;
import org.apache.arrow.vector.TimeStampVector;
import org.apache.arrow.vector.UInt1Vector;
import org.apache.arrow.vector.UInt2Vector;
import org.apache.arrow.vector.UInt4Vector;
import org.apache.arrow.vector.UInt8Vector;
import org.apache.arrow.vector.types.TimeUnit;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.Decimal;
import org.apache.spark.sql.vectorized.ColumnVector;
import org.apache.spark.sql.vectorized.ColumnarArray;
import org.apache.spark.sql.vectorized.ColumnarMap;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * A top-level Arrow column that Spark's ArrowColumnVector cannot read,
 * converted exactly value by value (see {@link ArrowTypeMapping}). Borrows
 * the vector: closing this does not close it.
 */
final class ConvertedColumnVector extends ColumnVector {
  private static final long MICROS_PER_SECOND = 1_000_000L;
  private static final long MILLIS_PER_DAY = 86_400_000L;

  private final FieldVector vector;
  /** Multiplier from the vector's unit to microseconds (timestamps) or nanoseconds (times). */
  private final long scale;

  ConvertedColumnVector(FieldVector vector, DataType type) {
    super(type);
    this.vector = vector;
    ArrowType arrow = vector.getField().getType();
    if (arrow instanceof ArrowType.Timestamp) {
      this.scale = ((ArrowType.Timestamp) arrow).getUnit() == TimeUnit.SECOND ? MICROS_PER_SECOND : 1000L;
    } else if (arrow instanceof ArrowType.Time) {
      TimeUnit unit = ((ArrowType.Time) arrow).getUnit();
      this.scale = unit == TimeUnit.SECOND ? 1_000_000_000L : unit == TimeUnit.MILLISECOND ? 1_000_000L : 1000L;
    } else {
      this.scale = 1;
    }
  }

  @Override
  public void close() {}

  @Override
  public boolean hasNull() {
    return vector.getNullCount() > 0;
  }

  @Override
  public int numNulls() {
    return vector.getNullCount();
  }

  @Override
  public boolean isNullAt(int rowId) {
    return vector.isNull(rowId);
  }

  @Override
  public short getShort(int rowId) {
    return (short) Byte.toUnsignedInt(((UInt1Vector) vector).get(rowId));
  }

  @Override
  public int getInt(int rowId) {
    if (vector instanceof UInt2Vector) return ((UInt2Vector) vector).get(rowId);
    if (vector instanceof DateMilliVector) {
      return Math.toIntExact(Math.floorDiv(((DateMilliVector) vector).get(rowId), MILLIS_PER_DAY));
    }
    throw unexpected("getInt");
  }

  @Override
  public long getLong(int rowId) {
    if (vector instanceof UInt4Vector) return Integer.toUnsignedLong(((UInt4Vector) vector).get(rowId));
    if (vector instanceof TimeStampVector) return Math.multiplyExact(((TimeStampVector) vector).get(rowId), scale);
    if (vector instanceof TimeSecVector) return ((TimeSecVector) vector).get(rowId) * scale;
    if (vector instanceof TimeMilliVector) return ((TimeMilliVector) vector).get(rowId) * scale;
    if (vector instanceof TimeMicroVector) return ((TimeMicroVector) vector).get(rowId) * scale;
    throw unexpected("getLong");
  }

  @Override
  public float getFloat(int rowId) {
    return ((Float2Vector) vector).getValueAsFloat(rowId);
  }

  @Override
  public Decimal getDecimal(int rowId, int precision, int scale) {
    if (isNullAt(rowId)) return null;
    BigDecimal value;
    if (vector instanceof UInt8Vector) {
      value = new BigDecimal(new BigInteger(Long.toUnsignedString(((UInt8Vector) vector).get(rowId))));
    } else if (vector instanceof Decimal256Vector) {
      value = ((Decimal256Vector) vector).getObject(rowId);
    } else {
      throw unexpected("getDecimal");
    }
    return Decimal.apply(value, precision, scale);
  }

  @Override
  public byte[] getBinary(int rowId) {
    if (isNullAt(rowId)) return null;
    return ((FixedSizeBinaryVector) vector).get(rowId);
  }

  @Override
  public boolean getBoolean(int rowId) {
    throw unexpected("getBoolean");
  }

  @Override
  public byte getByte(int rowId) {
    throw unexpected("getByte");
  }

  @Override
  public double getDouble(int rowId) {
    throw unexpected("getDouble");
  }

  @Override
  public ColumnarArray getArray(int rowId) {
    throw unexpected("getArray");
  }

  @Override
  public ColumnarMap getMap(int rowId) {
    throw unexpected("getMap");
  }

  @Override
  public UTF8String getUTF8String(int rowId) {
    throw unexpected("getUTF8String");
  }

  @Override
  public ColumnVector getChild(int ordinal) {
    throw unexpected("getChild");
  }

  private UnsupportedOperationException unexpected(String getter) {
    return new UnsupportedOperationException("flightsql: " + getter + " of column '" + vector.getName() + "' ("
        + vector.getField().getType() + " read as " + dataType().simpleString() + ")");
  }
}
