// Register file of the CIM macro: decode and access checks, registers, INBUF, error
// registers, IRQ, counters, command validation and issue, BUSY timing, debug backdoor.
//
// Contract: docs/arithmetic.md §4 (timing, counters, energy) and §5 (bus rules);
// register map: spec/cim_macro.toml via the generated cim_reg_pkg.svh (constants, the
// access attributes cim_reg_attr, the config bundle cim_cfg_t) and cim_reg_store.svh
// (storage, reset, write and read of the plain registers).  Only the registers the spec marks hwext are written here.
//
// One request per edge comes from cim_axil_slave (req_valid_i high in the cycle that
// ends with the AXI handshake edge).  The response (rsp_*) is combinational from the
// state before that edge; every state change of the access happens on that edge.
//
// BUSY timing: a command accepted on edge t0 with duration D loads busy_cnt_q = D and
// sets busy_q.  Each later edge with busy_q set decrements the count; the edge that
// sees busy_cnt_q == 1 (edge t0 + D) clears busy_q and sets STATUS.DONE and
// IRQ_STATUS.DONE.  So accesses on edges t0 < t <= t0 + D see BUSY = 1, and DONE is set
// by edge t0 + D (D >= CMD_OVERHEAD >= 1).  On the completion edge a W1C of
// IRQ_STATUS loses against the hardware set.  STATUS.DONE clears when the next command
// is accepted; IRQ_STATUS.DONE only by W1C.
//
// Reset: asynchronous, active low (rst_ni).  The array state is not reset (cim_array).
`include "cim_reg_pkg.svh"
module cim_regfile import cim_reg_pkg::*; #(
  parameter int NTiles = 8,
  parameter int Rows   = 256,
  parameter int Cols   = 64,
  // derived, do not override
  localparam int NumPairs = NTiles * Rows * Cols,
  localparam int PairBits = $clog2(NumPairs)
) (
  input  logic                                clk_i,
  input  logic                                rst_ni,
  // request port (from cim_axil_slave)
  input  logic                                req_valid_i,
  input  logic                                req_write_i,
  input  logic [CIM_ADDR_WIDTH-1:0]           req_addr_i,
  input  logic [31:0]                         req_wdata_i,
  input  logic [CIM_ADDR_WIDTH-1:0]           rd_addr_i,   // a read's address (read mux)
  input  logic [3:0]                          req_wstrb_i,
  output logic [31:0]                         rsp_rdata_o,
  output logic [1:0]                          rsp_resp_o,
  output logic                                irq_o,
  // command issue (to cim_array), valid on the accept edge
  output logic                                cmd_start_o,
  output logic [CMD_OPCODE_WIDTH-1:0]         cmd_opcode_o,
  output logic                                cmd_signed_o,
  output logic                                cmd_pol_o,
  output logic [31:0]                         op_index_o,
  output cim_cfg_t                            cfg_o,       // the config registers' fields
  output logic [COL_MASK_BITS-1:0]            dead_cols_o, // TILE's DEAD_COLS mask
  output logic                                inbuf_we_o,  // an INBUF word write
  output logic [$clog2(INBUF_WORDS)-1:0]      inbuf_wword_o,  // its word
  // buffer read port (from cim_array, which holds INBUF too): the word of rd_addr_i
  output logic [$clog2(INBUF_WORDS)-1:0]      buf_word_o,
  input  logic [31:0]                         inbuf_word_i,
  input  logic [31:0]                         outbuf_word_i,
  input  logic [31:0]                         satbuf_word_i,
  input  logic [31:0]                         readbuf_word_i,
  input  logic [SAT_COUNT_VALUE_WIDTH-1:0]    sat_count_i,
  // debug backdoor (to/from cim_array)
  output logic [PairBits-1:0]                 dbg_pair_o,
  output logic                                dbg_we_o,
  output logic [GCODE_BITS-1:0]               dbg_gp_o,
  output logic [GCODE_BITS-1:0]               dbg_gn_o,
  input  logic [GCODE_BITS-1:0]               dbg_gp_i,
  input  logic [GCODE_BITS-1:0]               dbg_gn_i,
  input  logic [WC_BITS-1:0]                  dbg_wcp_i,
  input  logic [WC_BITS-1:0]                  dbg_wcn_i
);
  localparam integer BufWordBits = $clog2(INBUF_WORDS);  // INBUF/OUTBUF/READBUF: 64 words

  localparam [31:0] NTilesW = 32'(NTiles);
  localparam [31:0] RowsW   = 32'(Rows);
  localparam [31:0] ColsW   = 32'(Cols);
  // Mask bits at c >= COLS are ignored (docs/arithmetic.md §3, §4).
  localparam [COL_MASK_BITS-1:0] ColMask = (Cols >= COL_MASK_BITS) ? '1
                                           : ((COL_MASK_BITS'(1) << Cols) - 1'b1);
  localparam [1:0] RESP_OKAY   = 2'b00;
  localparam [1:0] RESP_SLVERR = 2'b10;
  localparam [1:0] RESP_DECERR = 2'b11;

  // ---------------------------------------------------------------- registers
  // The plain registers (ctrl_q, seed_q, ... stuck_rate_q) are declared, reset, written
  // and read by the generated cim_reg_store.svh (included below, after the access check).
  reg [31:0] dbg_addr_q;
  // DEAD_COLS_LO/HI: one mask of COL_MASK_BITS per tile, tile t at bits [t*64 +: 64]
  // (packed: reset and written as one vector, no array loop)
  reg [NTiles*COL_MASK_BITS-1:0] dead_q;
  // status, errors, interrupt
  reg        busy_q;
  reg [31:0] busy_cnt_q;
  reg        done_q;
  reg        irq_done_q;
  reg [ERR_CODE_CODE_WIDTH-1:0]  err_code_q;
  reg [ERR_CODE_COUNT_WIDTH-1:0] err_count_q;
  reg [CIM_ADDR_WIDTH-1:0]       err_addr_q;
  // counters
  reg [63:0] cycle_q;
  reg [31:0] cycle_hi_q;
  reg [63:0] energy_q;
  reg [31:0] energy_hi_q;
  reg [31:0] op_count_q;
  reg [31:0] pulse_total_q;
  reg [31:0] last_cycles_q;

  // ---------------------------------------------------------------- decode
  // Access and group attributes: the generated cim_reg_attr (cim_reg_pkg) of the spec:
  //   dec_ro   access "ro" (registers) or a ro buffer  -> writes are READ_ONLY errors
  //   dec_wo   access "wo" (CMD)                       -> reads are WRITE_ONLY errors
  //   dec_lock group "config" or "debug", or a buffer  -> BUSY errors while busy
  //   dec_dbg  group "debug"                           -> DBG_LOCKED unless CTRL.DBG_EN
  wire [CIM_ADDR_WIDTH-1:0] addr = req_addr_i;
  wire [ATTR_BITS-1:0]      attr = cim_reg_attr(addr);
  wire dec_hit  = attr[ATTR_HIT];
  wire dec_ro   = attr[ATTR_RO];
  wire dec_wo   = attr[ATTR_WO];
  wire dec_lock = attr[ATTR_LOCK];
  wire dec_dbg  = attr[ATTR_DBG];

  // ---------------------------------------------------------------- plain registers
  wire store_we;  // a write that passed every check (wr_ok, below)
  `include "cim_reg_store.svh"

  function in_buffer(input [CIM_ADDR_WIDTH-1:0] a, input [CIM_ADDR_WIDTH-1:0] base,
                               input integer words);
    reg [31:0] a32, b32;
    begin
      a32 = 32'(a);
      b32 = 32'(base);
      in_buffer = (a32 >= b32) && (a32 < b32 + 32'(4 * words));
    end
  endfunction

  // Which buffer (the attributes above say whether it is one and how it may be accessed).
  // Writes and access checks decode addr; reads decode raddr (rd_addr_i, cim_axil_slave),
  // equal to addr on a read's handshake and unchanged by writes.
  wire [CIM_ADDR_WIDTH-1:0] raddr = rd_addr_i;
  // (INBUF fills its aligned 4 * 2**BufWordBits bytes: a compare of the bits above, nets
  // only, where a function call is a process run on every address)
  wire is_inbuf   = (addr >> (BufWordBits + 2)) == (ADDR_INBUF >> (BufWordBits + 2));
  wire [CIM_ADDR_WIDTH-1:0] wr_offset = addr - ADDR_INBUF;
  assign inbuf_wword_o = wr_offset[BufWordBits+1:2];
  wire unused_wr_offset = ^{wr_offset[CIM_ADDR_WIDTH-1:BufWordBits+2], wr_offset[1:0]};
  // Every buffer's base is a multiple of 4 * 2**BufWordBits bytes and no buffer is longer,
  // so the word inside whichever buffer raddr points to is raddr[BufWordBits+1:2] (no
  // decode on every read address; checked here for the generated map).
  localparam integer BufBytes = 4 << BufWordBits;
  localparam bit BufAligned = (32'(ADDR_INBUF) % BufBytes == 0)
      && (32'(ADDR_OUTBUF) % BufBytes == 0) && (32'(ADDR_SATBUF) % BufBytes == 0)
      && (32'(ADDR_READBUF) % BufBytes == 0) && (INBUF_WORDS == 1 << BufWordBits)
      && (OUTBUF_WORDS <= 1 << BufWordBits) && (SATBUF_WORDS <= 1 << BufWordBits)
      && (READBUF_WORDS <= 1 << BufWordBits);
  if (!BufAligned) begin : g_buf_map_check
    initial $fatal(1, "cim_regfile: a buffer base is not aligned to %0d bytes", BufBytes);
  end
  assign buf_word_o = raddr[BufWordBits+1:2];

  // ---------------------------------------------------------------- debug address
  wire [DBG_ADDR_COL_WIDTH-1:0]  dbg_col  = dbg_addr_q[DBG_ADDR_COL_LSB +: DBG_ADDR_COL_WIDTH];
  wire [DBG_ADDR_ROW_WIDTH-1:0]  dbg_row  = dbg_addr_q[DBG_ADDR_ROW_LSB +: DBG_ADDR_ROW_WIDTH];
  wire [DBG_ADDR_TILE_WIDTH-1:0] dbg_tile = dbg_addr_q[DBG_ADDR_TILE_LSB +: DBG_ADDR_TILE_WIDTH];
  wire [31:0] dbg_col32  = 32'(dbg_col);
  wire [31:0] dbg_row32  = 32'(dbg_row);
  wire [31:0] dbg_tile32 = 32'(dbg_tile);
  wire dbg_in_range = (dbg_tile32 < NTilesW) && (dbg_row32 < RowsW) && (dbg_col32 < ColsW);
  wire [31:0] dbg_pair32 = (dbg_tile32 * RowsW + dbg_row32) * ColsW + dbg_col32;
  assign dbg_pair_o = dbg_pair32[PairBits-1:0];
  wire unused_dbg_pair32 = ^dbg_pair32[31:PairBits];  // in range: < NumPairs

  // Next DBG_ADDR after a DBG_G access: one column on, row-major, wrapping
  // col -> row -> tile -> 0.  Only used when the address is in range.
  reg [31:0] dbg_next;
  always @(*) begin
    dbg_next = 32'd0;
    if (dbg_col32 + 32'd1 < ColsW) begin
      dbg_next[DBG_ADDR_COL_LSB +: DBG_ADDR_COL_WIDTH]   = dbg_col + 1'b1;
      dbg_next[DBG_ADDR_ROW_LSB +: DBG_ADDR_ROW_WIDTH]   = dbg_row;
      dbg_next[DBG_ADDR_TILE_LSB +: DBG_ADDR_TILE_WIDTH] = dbg_tile;
    end else if (dbg_row32 + 32'd1 < RowsW) begin
      dbg_next[DBG_ADDR_ROW_LSB +: DBG_ADDR_ROW_WIDTH]   = dbg_row + 1'b1;
      dbg_next[DBG_ADDR_TILE_LSB +: DBG_ADDR_TILE_WIDTH] = dbg_tile;
    end else if (dbg_tile32 + 32'd1 < NTilesW) begin
      dbg_next[DBG_ADDR_TILE_LSB +: DBG_ADDR_TILE_WIDTH] = dbg_tile + 1'b1;
    end
  end

  // DBG_G writes clamp each code to GCODE_MAX.
  localparam [DBG_G_GP_WIDTH-1:0] GcodeMaxW = DBG_G_GP_WIDTH'(GCODE_MAX);
  wire [DBG_G_GP_WIDTH-1:0] wr_gp = req_wdata_i[DBG_G_GP_LSB +: DBG_G_GP_WIDTH];
  wire [DBG_G_GN_WIDTH-1:0] wr_gn = req_wdata_i[DBG_G_GN_LSB +: DBG_G_GN_WIDTH];
  wire [DBG_G_GP_WIDTH-1:0] wr_gp_c = (wr_gp > GcodeMaxW) ? GcodeMaxW : wr_gp;
  wire [DBG_G_GN_WIDTH-1:0] wr_gn_c = (wr_gn > GcodeMaxW) ? GcodeMaxW : wr_gn;
  assign dbg_gp_o = wr_gp_c[GCODE_BITS-1:0];
  assign dbg_gn_o = wr_gn_c[GCODE_BITS-1:0];
  wire unused_wr_g = ^{wr_gp_c[DBG_G_GP_WIDTH-1:GCODE_BITS], wr_gn_c[DBG_G_GN_WIDTH-1:GCODE_BITS]};

  // ---------------------------------------------------------------- dead columns
  // The mask of tile TILE (tile 0's when TILE >= NTILES: a DEAD_COLS access is refused
  // then, and so is every command).
  wire is_dead_lo = (addr == ADDR_DEAD_COLS_LO);
  wire is_dead_hi = (addr == ADDR_DEAD_COLS_HI);
  wire tile_ok    = (tile_q < NTilesW);
  localparam integer DeadBits = $clog2(NTiles * COL_MASK_BITS);
  wire [DeadBits-1:0] dead_base = tile_ok ? DeadBits'(tile_q * 32'(COL_MASK_BITS)) : '0;
  assign dead_cols_o = dead_q[dead_base +: COL_MASK_BITS];

  // ---------------------------------------------------------------- command check
  wire [CMD_OPCODE_WIDTH-1:0] wr_opcode = req_wdata_i[CMD_OPCODE_LSB +: CMD_OPCODE_WIDTH];
  wire wr_signed = req_wdata_i[CMD_SIGNED_LSB];
  wire rows_ok  = (row_count_q != 32'd0) && (row_start_q + row_count_q <= RowsW);
  wire cols_ok  = (col_count_q != 32'd0) && (col_start_q + col_count_q <= ColsW);

  // The command check of a CMD write (only looked at then, from the access check: as a
  // process of its own it re-ran on every bus write, whose data it reads).  The registers
  // it reads change only on writes to their own addresses, so a CMD write after them
  // changes the address and the access check runs again with their new values.
  function [7:0] cmd_err(input [CMD_OPCODE_WIDTH-1:0] opcode);
    reg vmm, pulse, read;
    begin
      vmm   = (opcode == OP_VMM_FWD) || (opcode == OP_VMM_TRANS);
      pulse = (opcode == OP_PULSE);
      read  = (opcode == OP_READ_ROW);
      cmd_err = ERR_NONE;
      if (!(vmm || pulse || read)) begin
        cmd_err = ERR_BAD_CMD;
      end else if (tile_q >= NTilesW) begin
        cmd_err = ERR_BAD_TILE;
      end else if (vmm && !(rows_ok && cols_ok)) begin
        cmd_err = ERR_BAD_WINDOW;
      end else if (read && !((row_start_q < RowsW) && cols_ok)) begin
        cmd_err = ERR_BAD_WINDOW;
      end else if (pulse && ((pulse_row_q >= RowsW) || (pulse_width_q == 32'd0)
                             || (pulse_count_q == 32'd0)
                             || (pulse_set_amp_q > 32'(AMP_MAX_MV))
                             || (pulse_reset_amp_q > 32'(AMP_MAX_MV)))) begin
        cmd_err = ERR_BAD_PULSE;
      end
    end
  endfunction

  // ---------------------------------------------------------------- access check
  // Order of docs/arithmetic.md §5.  The request is checked as a write (acc_err_w) and
  // as a read (acc_err_r) at once, and req_write_i only selects one: req_write_i and
  // req_valid_i change on their own around every handshake, and as an input of the check
  // they re-ran it (21 signal reads, about 500 host instructions each in Icarus) three
  // times an access instead of once.
  reg [7:0] acc_err_w, acc_err_r, acc_err_any;
  always @(*) begin
    if (addr[1:0] != 2'b00) begin
      acc_err_any = ERR_MISALIGNED;
      acc_err_w   = ERR_MISALIGNED;
      acc_err_r   = ERR_MISALIGNED;
    end else if (!dec_hit) begin
      acc_err_any = ERR_DECODE;
      acc_err_w   = ERR_DECODE;
      acc_err_r   = ERR_DECODE;
    end else begin
      // the checks of reads and writes alike, after the access-type ones
      if (busy_q && dec_lock) begin
        acc_err_any = ERR_BUSY;
      end else if (dec_dbg && !ctrl_q[CTRL_DBG_EN_LSB]) begin
        acc_err_any = ERR_DBG_LOCKED;
      end else if (((addr == ADDR_DBG_G) || (addr == ADDR_DBG_WC)) && !dbg_in_range) begin
        acc_err_any = ERR_BAD_WINDOW;
      end else if ((is_dead_lo || is_dead_hi) && !tile_ok) begin
        acc_err_any = ERR_BAD_TILE;
      end else begin
        acc_err_any = ERR_NONE;
      end
      acc_err_r = dec_wo ? ERR_WRITE_ONLY : acc_err_any;
      if (req_wstrb_i != 4'hF) begin
        acc_err_w = ERR_BAD_STRB;
      end else if (dec_ro) begin
        acc_err_w = ERR_READ_ONLY;
      end else if (acc_err_any != ERR_NONE) begin
        acc_err_w = acc_err_any;
      end else if (addr == ADDR_CMD) begin
        acc_err_w = cmd_err(wr_opcode);
      end else begin
        acc_err_w = ERR_NONE;
      end
    end
  end
  wire [7:0] acc_err = req_write_i ? acc_err_w : acc_err_r;

  assign rsp_resp_o = (acc_err == ERR_NONE)   ? RESP_OKAY :
                      (acc_err == ERR_DECODE) ? RESP_DECERR : RESP_SLVERR;

  wire acc_ok = req_valid_i && (acc_err == ERR_NONE);
  wire wr_ok  = acc_ok && req_write_i;
  wire rd_ok  = acc_ok && !req_write_i;
  assign store_we = wr_ok;

  // ---------------------------------------------------------------- command cost
  // docs/arithmetic.md §4: duration D and energy of the command in req_wdata_i.
  localparam [31:0] Cpa      = 32'(COLS_PER_ADC);
  localparam [31:0] AdcCyc   = 32'(ADC_CYCLES);
  localparam [31:0] Overhead = 32'(CMD_OVERHEAD);
  localparam [31:0] PulseGap = 32'(PULSE_GAP);

  wire [COL_MASK_BITS-1:0] set_mask   = {pulse_set_mask_hi_q, pulse_set_mask_lo_q} & ColMask;
  wire [COL_MASK_BITS-1:0] reset_mask = {pulse_reset_mask_hi_q, pulse_reset_mask_lo_q} & ColMask;

  // Bits set in v: a SWAR sum of bit fields (a loop over 64 bits cost Icarus about 64
  // statements every time a mask register was written).
  function [31:0] popcount(input [63:0] v);
    reg [63:0] x;
    begin
      x = v - ((v >> 1) & 64'h5555_5555_5555_5555);
      x = (x & 64'h3333_3333_3333_3333) + ((x >> 2) & 64'h3333_3333_3333_3333);
      x = (x + (x >> 4)) & 64'h0F0F_0F0F_0F0F_0F0F;
      x = x + (x >> 8);
      x = x + (x >> 16);
      x = x + (x >> 32);
      popcount = {25'd0, x[6:0]};
    end
  endfunction

  // {pulses, energy, duration D} of the command ``opcode`` (signed: CMD.SIGNED) with the
  // config registers as they are.  Called on the accept edge only: as combinational
  // processes these re-ran on every bus write, whose data holds the opcode.
  function [127:0] cmd_cost(input [CMD_OPCODE_WIDTH-1:0] opcode, input signed_in);
    reg [31:0] n_set, n_reset, phases, n_out, rounds, rr_cols, n_pulses, p_phases, dur;
    reg [63:0] energy;
    begin
      n_set    = popcount(64'(set_mask));
      n_reset  = popcount(64'(reset_mask));
      phases   = signed_in ? 32'd2 : 32'd1;
      n_out    = (opcode == OP_VMM_TRANS) ? row_count_q : col_count_q;
      rounds   = (n_out < Cpa) ? n_out : Cpa;
      rr_cols  = (col_count_q < Cpa) ? col_count_q : Cpa;
      n_pulses = pulse_count_q * (n_set + n_reset);
      p_phases = {31'd0, n_set != 32'd0} + {31'd0, n_reset != 32'd0};
      dur      = 32'd0;
      energy   = 64'd0;
      if ((opcode == OP_VMM_FWD) || (opcode == OP_VMM_TRANS)) begin
        dur    = Overhead + phases * rounds * AdcCyc;
        energy = 64'(E_MAC_FJ) * 64'(row_count_q) * 64'(col_count_q) * 64'(phases);
      end else if (opcode == OP_READ_ROW) begin
        dur    = Overhead + 32'd2 * rr_cols * AdcCyc;
        energy = 64'(E_READ_FJ) * 64'd2 * 64'(col_count_q);
      end else if (opcode == OP_PULSE) begin
        dur    = Overhead + p_phases * pulse_count_q * (pulse_width_q + PulseGap);
        energy = 64'(E_PULSE_FJ) * 64'(n_pulses);
      end
      cmd_cost = {n_pulses, energy, dur};
    end
  endfunction

  wire cmd_start = wr_ok && (addr == ADDR_CMD);

  // ---------------------------------------------------------------- read data
  // The data of a read at ra, from the state before its handshake edge: registered on
  // that edge (rdata_q, in the clocked block below; cim_axil_slave drives RDATA from it).
  // A function called on read handshakes only: as a combinational mux process it re-ran
  // on every read address and on every change of a register or buffer word it selects
  // from (the cycle counter on every edge), about half the cost of an access in Icarus.
  function [31:0] read_word(input [CIM_ADDR_WIDTH-1:0] ra);
    reg [32:0] st;
    begin
      read_word = 32'd0;
      case (ra)
        ADDR_STATUS: begin
          read_word[STATUS_BUSY_LSB] = busy_q;
          read_word[STATUS_DONE_LSB] = done_q;
          read_word[STATUS_ERR_LSB]  = (err_code_q != ERR_NONE);
          read_word[STATUS_SAT_LSB]  = (sat_count_i != '0);
        end
        ADDR_IRQ_STATUS:      read_word[IRQ_STATUS_DONE_LSB] = irq_done_q;
        ADDR_ERR_CODE: begin
          read_word[ERR_CODE_CODE_LSB +: ERR_CODE_CODE_WIDTH]   = err_code_q;
          read_word[ERR_CODE_COUNT_LSB +: ERR_CODE_COUNT_WIDTH] = err_count_q;
        end
        ADDR_ERR_ADDR:        read_word = 32'(err_addr_q);
        ADDR_CYCLE_LO:        read_word = cycle_q[31:0];
        ADDR_CYCLE_HI:        read_word = cycle_hi_q;
        ADDR_OP_COUNT:        read_word = op_count_q;
        ADDR_ENERGY_LO:       read_word = energy_q[31:0];
        ADDR_ENERGY_HI:       read_word = energy_hi_q;
        ADDR_PULSE_TOTAL:     read_word = pulse_total_q;
        ADDR_SAT_COUNT:       read_word[SAT_COUNT_VALUE_LSB +: SAT_COUNT_VALUE_WIDTH] = sat_count_i;
        ADDR_LAST_CYCLES:     read_word = last_cycles_q;
        ADDR_DBG_ADDR:        read_word = dbg_addr_q;
        ADDR_DEAD_COLS_LO:    read_word = dead_cols_o[31:0];
        ADDR_DEAD_COLS_HI:    read_word = dead_cols_o[63:32];
        ADDR_DBG_G: begin
          read_word[DBG_G_GP_LSB +: GCODE_BITS] = dbg_gp_i;
          read_word[DBG_G_GN_LSB +: GCODE_BITS] = dbg_gn_i;
        end
        ADDR_DBG_WC: begin
          read_word[DBG_WC_WCP_LSB +: WC_BITS] = dbg_wcp_i;
          read_word[DBG_WC_WCN_LSB +: WC_BITS] = dbg_wcn_i;
        end
        default: begin
          st = store_read(ra);  // the plain registers (cim_reg_store.svh)
          if (st[32]) begin
            read_word = st[31:0];
          end else if (in_buffer(ra, ADDR_INBUF, INBUF_WORDS)) begin
            read_word = inbuf_word_i;
          end else if (in_buffer(ra, ADDR_OUTBUF, OUTBUF_WORDS)) begin
            read_word = outbuf_word_i;
          end else if (in_buffer(ra, ADDR_SATBUF, SATBUF_WORDS)) begin
            read_word = satbuf_word_i;
          end else if (in_buffer(ra, ADDR_READBUF, READBUF_WORDS)) begin
            read_word = readbuf_word_i;
          end
        end
      endcase
    end
  endfunction

  reg [31:0] rdata_q;  // the last read's data (an erroring read returns 0)
  assign rsp_rdata_o = rdata_q;

  // ---------------------------------------------------------------- state
  // The hwext registers, and the plain ones through the tasks of cim_reg_store.svh.
  // One clocked block with enables: a register changes only on the edges that write it
  // (a simulator then does per edge what the hardware does, not re-evaluate a
  // next-state copy of every register and the 2048-bit INBUF on every input change).
  // Later assignments win, so the order below is the priority order: a running
  // command's completion, access errors, writes, reads; the completion's DONE set wins
  // over a W1C of IRQ_STATUS on the same edge (that clear tests done_set).
  wire done_set = busy_q && (busy_cnt_q == 32'd1);

  reg [127:0] cost;  // of the command accepted on this edge (cmd_cost): a temporary

  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      store_reset();  // the plain registers (cim_reg_store.svh)
      dbg_addr_q        <= RESET_DBG_ADDR & MASK_DBG_ADDR;
      dead_q            <= '0;  // RESET_DEAD_COLS_LO/HI: no column dead
      busy_q            <= 1'b0;
      busy_cnt_q        <= 32'd0;
      done_q            <= RESET_STATUS[STATUS_DONE_LSB];
      irq_done_q        <= RESET_IRQ_STATUS[IRQ_STATUS_DONE_LSB];
      err_code_q        <= RESET_ERR_CODE[ERR_CODE_CODE_LSB +: ERR_CODE_CODE_WIDTH];
      err_count_q       <= RESET_ERR_CODE[ERR_CODE_COUNT_LSB +: ERR_CODE_COUNT_WIDTH];
      err_addr_q        <= RESET_ERR_ADDR[CIM_ADDR_WIDTH-1:0];
      energy_q          <= 64'd0;
      energy_hi_q       <= RESET_ENERGY_HI;
      op_count_q        <= RESET_OP_COUNT;
      pulse_total_q     <= RESET_PULSE_TOTAL;
      last_cycles_q     <= RESET_LAST_CYCLES;
      cycle_q           <= 64'd0;
      cycle_hi_q        <= RESET_CYCLE_HI;
      rdata_q           <= 32'd0;
    end else begin
      cycle_q <= cycle_q + 64'd1;

      // running command; its completion sets DONE here, and a W1C of IRQ_STATUS on the
      // same edge does not clear it (below)
      if (busy_q) begin
        if (busy_cnt_q == 32'd1) begin
          busy_q     <= 1'b0;
          done_q     <= 1'b1;
          irq_done_q <= 1'b1;
        end else begin
          busy_cnt_q <= busy_cnt_q - 32'd1;
        end
      end

      // An access: everything below reads only on such edges (in Icarus every signal a
      // process reads costs about 500 host instructions, and most edges are idle).
      if (req_valid_i) begin
        if (acc_err != ERR_NONE) begin
          // first error sticky, count saturating
          if (err_code_q == ERR_NONE) begin
            err_code_q <= acc_err;
            err_addr_q <= addr;
          end
          if (err_count_q != {ERR_CODE_COUNT_WIDTH{1'b1}}) begin
            err_count_q <= err_count_q + 1'b1;
          end
        end

        if (store_we && !is_inbuf) begin  // (INBUF words, most writes, skip its case walk)
          store_write();  // the plain registers (cim_reg_store.svh)
        end

        if (wr_ok) begin
          case (addr)
            ADDR_CMD: begin
              /* verilator lint_off BLKSEQ */  // a temporary, read on this edge only
              cost           = cmd_cost(wr_opcode, wr_signed);
              /* verilator lint_on BLKSEQ */
              op_count_q    <= op_count_q + 32'd1;
              energy_q      <= energy_q + cost[95:32];
              last_cycles_q <= cost[31:0];
              busy_q        <= 1'b1;
              busy_cnt_q    <= cost[31:0];
              done_q        <= 1'b0;
              if (wr_opcode == OP_PULSE) begin
                pulse_total_q <= pulse_total_q + cost[127:96];
              end
            end
            ADDR_IRQ_STATUS: begin
              // a completion on this edge wins over the clear
              if (req_wdata_i[IRQ_STATUS_DONE_LSB] && !done_set) begin
                irq_done_q <= 1'b0;
              end
            end
            ADDR_ERR_CODE: begin  // wclr: any write clears code, count and address
              err_code_q  <= ERR_NONE;
              err_count_q <= '0;
              err_addr_q  <= '0;
            end
            ADDR_DBG_ADDR:            dbg_addr_q        <= req_wdata_i & MASK_DBG_ADDR;
            ADDR_DBG_G:               dbg_addr_q        <= dbg_next;  // data goes to the array
            ADDR_DEAD_COLS_LO:        dead_q[dead_base +: 32]        <= req_wdata_i;
            ADDR_DEAD_COLS_HI:        dead_q[dead_base + DeadBits'(32) +: 32] <= req_wdata_i;
            default: begin  // INBUF: written in cim_array (inbuf_we_o)
            end
          endcase
        end

        if (!req_write_i) begin  // a read: its data from the state before this edge
          rdata_q <= (acc_err == ERR_NONE) ? read_word(raddr) : 32'd0;
        end

        if (rd_ok) begin
          case (addr)
            ADDR_CYCLE_LO:  cycle_hi_q  <= cycle_q[63:32];   // latch the high word
            ADDR_ENERGY_LO: energy_hi_q <= energy_q[63:32];
            ADDR_DBG_G:     dbg_addr_q  <= dbg_next;         // every DBG_G access advances
            default: begin
            end
          endcase
        end
      end
    end
  end

  // ---------------------------------------------------------------- outputs
  assign irq_o = irq_done_q & ctrl_q[CTRL_IRQ_EN_LSB];

  assign cmd_start_o        = cmd_start;
  assign cmd_opcode_o       = wr_opcode;
  assign cmd_signed_o       = wr_signed;
  assign cmd_pol_o          = req_wdata_i[CMD_POL_LSB];
  assign op_index_o         = op_count_q;  // op index = OP_COUNT before the increment
  assign cfg_o              = store_cfg;
  assign inbuf_we_o         = wr_ok && is_inbuf;
  assign dbg_we_o           = wr_ok && (addr == ADDR_DBG_G);

endmodule
