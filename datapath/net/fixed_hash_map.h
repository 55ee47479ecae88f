// A hash map of fixed capacity for the packet path: open addressing with linear probing and
// backward-shift deletion (Knuth, TAOCP vol. 3, §6.4 Algorithm R), so there are no tombstones and
// a lookup stops at the first empty slot. All memory is taken at construction; Insert, Find and
// Erase never allocate. The table has at least twice as many slots as the capacity, which keeps
// probe sequences short.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace braid::net {

template <typename K, typename V, typename Hash, typename Eq = std::equal_to<K>>
class FixedHashMap {
 public:
  // `capacity` entries at most (at least 1).
  explicit FixedHashMap(size_t capacity, Hash hash = Hash(), Eq eq = Eq())
      : capacity_(capacity == 0 ? 1 : capacity), hash_(std::move(hash)), eq_(std::move(eq)) {
    size_t slots = 4;
    while (slots < capacity_ * 2) slots *= 2;
    slots_.resize(slots);
    mask_ = slots - 1;
  }

  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  bool full() const { return size_ == capacity_; }

  V* Find(const K& key) {
    size_t i = Home(key);
    while (slots_[i].used) {
      if (eq_(slots_[i].key, key)) return &slots_[i].value;
      i = (i + 1) & mask_;
    }
    return nullptr;
  }
  const V* Find(const K& key) const { return const_cast<FixedHashMap*>(this)->Find(key); }

  // Inserts `key` -> `value` unless `key` is present. Returns the entry and whether it was
  // inserted; {nullptr, false} when the key is absent and the map is full.
  std::pair<V*, bool> Insert(const K& key, const V& value) {
    size_t i = Home(key);
    while (slots_[i].used) {
      if (eq_(slots_[i].key, key)) return {&slots_[i].value, false};
      i = (i + 1) & mask_;
    }
    if (full()) return {nullptr, false};
    slots_[i].used = true;
    slots_[i].key = key;
    slots_[i].value = value;
    ++size_;
    return {&slots_[i].value, true};
  }

  bool Erase(const K& key) {
    size_t i = Home(key);
    while (slots_[i].used) {
      if (eq_(slots_[i].key, key)) {
        RemoveAt(i);
        return true;
      }
      i = (i + 1) & mask_;
    }
    return false;
  }

  // Calls fn(key, value) for every entry. fn must not insert or erase.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (const Slot& s : slots_) {
      if (s.used) fn(s.key, s.value);
    }
  }

 private:
  struct Slot {
    K key{};
    V value{};
    bool used = false;
  };

  size_t Home(const K& key) const { return static_cast<size_t>(hash_(key)) & mask_; }

  // Algorithm R: walk the cluster after the hole and move back every entry whose home does not
  // lie cyclically in (hole, its slot].
  void RemoveAt(size_t hole) {
    size_t j = hole;
    for (;;) {
      j = (j + 1) & mask_;
      if (!slots_[j].used) break;
      size_t home = Home(slots_[j].key);
      bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
      if (stays) continue;
      slots_[hole] = std::move(slots_[j]);
      hole = j;
    }
    slots_[hole] = Slot();
    --size_;
  }

  size_t capacity_;
  Hash hash_;
  Eq eq_;
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace braid::net
